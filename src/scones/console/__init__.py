"""The web console: one place to look at jobs, endpoints, executions and captured data.

`create_app(settings, auth_token)` builds the Starlette app; `serve(settings, host, port)`
runs it (what `scones console` does).
"""

from scones.console.app import create_app, serve

__all__ = ["create_app", "serve"]
