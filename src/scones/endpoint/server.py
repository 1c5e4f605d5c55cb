"""`serve`: run one endpoint in the foreground on uvicorn (the container's `serve` command).

The model comes from --model (a model.tar.gz, its unpacked folder or an s3:// URI) or, as in
a SageMaker container, from /opt/ml/model; or several, one per production variant
(`--variant NAME=MODEL[:WEIGHT]`, repeated). The port is the flag, else SAGEMAKER_BIND_TO_PORT,
else SCONES_ENDPOINT_PORT, else 8080. SIGTERM stops accepting, lets in-flight requests
finish, then flushes data capture before the process exits (SageMaker allows 30 s).
"""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path
from typing import Any

from scones.config import Settings, env, resolve
from scones.endpoint.app import App
from scones.endpoint.scaling import Scaler
from scones.endpoint.service import EndpointConfig
from scones.endpoint.variants import Variant
from scones.errors import EndpointError
from scones.model.artifact import Artifact, load
from scones.storage import Store

logger = logging.getLogger(__name__)

CONTAINER_MODEL_DIR = Path("/opt/ml/model")
GRACEFUL_SHUTDOWN_SECONDS = 20  # of SageMaker's 30 s between SIGTERM and SIGKILL; capture gets the rest


def endpoint_config(settings: Settings, **flags: Any) -> EndpointConfig:
    """EndpointConfig from flags, SAGEMAKER_BIND_TO_PORT (port only), SCONES_ENDPOINT_* and defaults."""
    if flags.get("port") is None and (sagemaker_port := env("SAGEMAKER_BIND_TO_PORT")):
        flags["port"] = sagemaker_port
    if flags.get("auth_token") is None:
        flags["auth_token"] = settings.auth_token
    return resolve(EndpointConfig, flags, env_prefix="SCONES_ENDPOINT_")


def model_location(model: str | None) -> str:
    """The --model value, else /opt/ml/model when it holds a model (the container contract)."""
    if model:
        return model
    if (CONTAINER_MODEL_DIR / "manifest.json").is_file():
        return str(CONTAINER_MODEL_DIR)
    raise EndpointError(
        "No model to serve: pass --model (a model.tar.gz, its folder or an s3:// URI) "
        f"or unpack one into {CONTAINER_MODEL_DIR}"
    )


def load_model(settings: Settings, model: str | None) -> Artifact:
    return load(model_location(model), Store(settings))


def build_server(app: App, config: EndpointConfig) -> Any:
    """A uvicorn Config for `app` (httptools and uvloop when installed: uvicorn's 'auto')."""
    import uvicorn

    from scones.endpoint.draining import protocol_class

    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        workers=config.workers,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        http=protocol_class(),  # idle connections drain rather than drop when a worker leaves (draining.py)
        backlog=2048,
    )


def serve(
    settings: Settings, config: EndpointConfig, model: str | None = None, variants: list[Variant] | None = None
) -> None:
    """Serve until SIGTERM/SIGINT; raises EndpointError if a model or the port is unusable.

    With `variants`, each is served under its name and weight (`config.variant` should be the first's).
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # Fail here, with a clear message, not inside a worker.
    models = [(v.name, v.weight, load_model(settings, v.model), v.shadow) for v in variants or []]
    artifact = models[0][2] if models else load_model(settings, model)
    logging.getLogger("scones").setLevel(logging.INFO)
    scaling = config.max_workers > 0
    counter = multiprocessing.get_context("spawn").Value("q", 0) if scaling else None  # handed to each worker
    app = App(artifact, config, settings, models, invocations=counter)
    server_config = build_server(app, config)
    try:
        sock = server_config.bind_socket()
    except SystemExit as exc:  # uvicorn exits when the port is taken; make it our error
        raise EndpointError(
            f"Cannot listen on {config.host}:{config.port} (in use?); pick another with --port"
        ) from exc
    host, port = sock.getsockname()[:2]
    logger.info(
        "Endpoint %s serving %s on http://%s:%d (workers %d, capture %s%%)",
        config.name, artifact.manifest.training_job or "model", host, port, config.workers, config.capture_percent,
    )  # fmt: skip
    server = uvicorn.Server(server_config)
    if config.workers > 1 or scaling:
        supervisor = Multiprocess(server_config, sockets=[sock])
        scaler = Scaler(config, settings, counter, supervisor.signal_queue.append).start() if scaling else None
        try:
            supervisor.run()
        finally:
            if scaler is not None:
                scaler.stop()
    else:
        server.run(sockets=[sock])
        if not server.started:
            raise EndpointError(f"Endpoint {config.name} failed to start; see the log above")
