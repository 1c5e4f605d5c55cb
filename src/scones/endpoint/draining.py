"""A worker that leaves without failing a request: uvicorn's HTTP protocol with a lame-duck shutdown.

When a worker stops (scaled in, redeployed, deleted), uvicorn closes every idle keep-alive
connection at once. A client may have picked that connection a moment before and sent a
request on it: the request dies with "Server disconnected without sending a response", and a
POST is not retried. Here an idle connection stays open for `DRAIN_SECONDS` instead: a request
that arrives meanwhile is answered with `Connection: close` (the client reconnects, to a worker
that stays), and a connection still idle after that is closed, long after any request on its
way would have arrived.
"""

from __future__ import annotations

from typing import Any

DRAIN_SECONDS = 1.0

try:  # imported only by server.build_server (uvicorn stays out of `scones --help`)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: uvicorn's h11, with its immediate close
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def protocol_class() -> Any:
    """The HTTP protocol for uvicorn.Config(http=...): httptools with the drain, else uvicorn's 'auto'."""
    return "auto" if HttpToolsProtocol is None else DrainingProtocol


class DrainingProtocol(HttpToolsProtocol or object):  # type: ignore[misc]
    """At module level so that uvicorn's worker processes can unpickle the config that names it."""

    draining = False

    def shutdown(self) -> None:
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer it, then close: the client goes to a worker that stays

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()
