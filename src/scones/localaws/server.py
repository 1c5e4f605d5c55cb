"""Run the local AWS in the foreground on uvicorn until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType

from starlette.types import ASGIApp

from scones.config import Settings
from scones.console.guard import Guard, allowed_hosts
from scones.errors import ConfigError
from scones.localaws.app import SERVED, LocalAws
from scones.localaws.settings import UpConfig


def bind(config: UpConfig) -> socket.socket:
    """The listening socket, bound before anything is printed, so a busy port is one clear error."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {config.host}:{config.port} ({exc.strerror}); pass another --port"
        ) from exc
    return sock


def export_lines(config: UpConfig, port: int) -> list[str]:
    """What a user exports so boto3, the AWS CLI and the SageMaker SDK talk to this server."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    if host in ("0.0.0.0", "[::]"):  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    key = config.access_key or "test"
    secret = "<your --secret-key>" if config.secret_key else "test"
    return [
        f"export AWS_ENDPOINT_URL=http://{host}:{port}",
        f"export AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret}",
        f"export AWS_DEFAULT_REGION={config.region}",
    ]


def guarded(app: ASGIApp, config: UpConfig) -> Guard:
    """The console's Host allow-list and a refusal of web pages' requests in front of every API.

    No token: AWS clients authenticate by SigV4 (checked when --access-key is given).
    """
    hosts = allowed_hosts(config.host, [name.strip() for name in config.allow_hosts.split(",")])
    return Guard(app, token=None, hosts=hosts, host_suffixes=(".localhost",), refuse_cross_origin=True)


def serve(settings: Settings, config: UpConfig, announce: Callable[[list[str]], None]) -> None:
    """Serve every API on one port; `announce` gets the banner lines once the port is bound."""
    import uvicorn

    sock = bind(config)
    port = sock.getsockname()[1]
    banner = [f"scones up: local AWS ({', '.join(SERVED)}) on http://{config.host}:{port} (Ctrl-C to stop)"]
    announce(banner + export_lines(config, port))
    app = LocalAws(settings, config)
    app.pools.endpoint_url = export_lines(config, port)[0].split("=", 1)[1]
    server = uvicorn.Server(uvicorn.Config(guarded(app, config), log_level="warning", lifespan="on", access_log=False))
    # uvicorn catches SIGINT/SIGTERM, lets in-flight requests finish, then re-raises the signal
    # to the handlers it found; these turn that into a normal return (exit 0 for a foreground server).
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


class _Stopped(Exception):
    """Raised by the signal handlers once uvicorn has shut down."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped
