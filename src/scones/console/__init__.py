"""The web console: one place to look at jobs, endpoints, executions and captured data.

`create_app(settings, auth_token)` builds the Starlette app; `access_token(settings, host)`
picks the token it asks for and `serve(settings, token, host, port)` runs it (what
`scones console` does). `guard.Guard` is the Host allow-list and token middleware.
"""

from scones.console.app import access_token, create_app, serve

__all__ = ["access_token", "create_app", "serve"]
