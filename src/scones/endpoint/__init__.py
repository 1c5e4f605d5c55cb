"""Stage 2b, endpoint: the real-time inference server with data capture, and its registry.

    server.serve(settings, config, model)      run one endpoint in the foreground (the container's `serve`)
    registry.deploy(settings, config, model)   start a named endpoint in the background, wait until InService
    registry.describe / list_endpoints / delete / update_endpoint   named endpoints and their processes
    client.invoke(settings, name, data)        call a named endpoint over HTTP

Inside a server: `app.App` (HTTP) serves from a `slot.ModelSlot` holding the current
`service.InferenceService`; a `watcher.ModelWatcher` swaps it when `update_endpoint` moves the
model pointer. `table` owns the `endpoints` table; `process` starts and stops server processes.
"""
