"""The serving image: a Dockerfile that runs `scones serve` under SageMaker's container contract.

SageMaker starts the image as `docker run IMAGE serve`, unpacks model.tar.gz into
/opt/ml/model and sends traffic to port 8080 (or SAGEMAKER_BIND_TO_PORT). The image holds
scones and only its serving dependencies (ONNX Runtime, no PyTorch), pinned to the versions
this scones runs with. `write_context` lays out a complete `docker build` context.
"""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

from scones import __version__
from scones.aws.errors import AwsError
from scones.aws.package import PACKAGE_ROOT

# What `scones serve` imports at run time (the endpoint stage), by distribution name.
SERVING_DEPENDENCIES = (
    "numpy",
    "pillow",
    "onnxruntime",
    "starlette",
    "uvicorn",
    "httpx",
    "prometheus-client",
    "typer",
    "rich",
    "fsspec",
    "s3fs",
    "boto3",
)
MODEL_DIR = "/opt/ml/model"

# `serve` is what SageMaker runs; it maps the contract onto `scones serve` flags.
SERVE_SCRIPT = f"""#!/bin/sh
# SageMaker container contract: the model is in {MODEL_DIR}; listen on 8080 or $SAGEMAKER_BIND_TO_PORT.
# SageMaker captures data itself (DataCaptureConfig), so the container does not.
exec scones serve --model {MODEL_DIR} --host 0.0.0.0 --port "${{SAGEMAKER_BIND_TO_PORT:-8080}}" --capture-percent 0 "$@"
"""

PYPROJECT = f"""[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "scones"
version = "{__version__}"
requires-python = ">=3.11"

[project.scripts]
scones = "scones.cli:main"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
scones = ["**/*.json", "**/*.html", "**/*.css", "**/*.js", "**/*.svg"]
"""


def pinned_requirements() -> list[str]:
    """The serving dependencies at the versions installed here."""
    pins = []
    for name in SERVING_DEPENDENCIES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as exc:
            raise AwsError(f"{name} is not installed; reinstall scones with its dependencies ('make install')") from exc
    return pins


def dockerfile() -> str:
    """The Dockerfile text (build it in the folder `write_context` makes)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    requirements = " \\\n        ".join(pinned_requirements())
    return f"""# scones {__version__} serving image for SageMaker hosting (bring your own container).
# Build: docker build -t IMAGE . && docker push IMAGE   (scones aws deploy --image IMAGE)
FROM python:{python}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SCONES_HOME=/tmp/scones
RUN pip install --no-cache-dir \\
        {requirements}
COPY pyproject.toml /opt/scones/pyproject.toml
COPY src /opt/scones/src
RUN pip install --no-cache-dir --no-deps /opt/scones && useradd --system --no-create-home scones
COPY --chmod=755 serve /usr/local/bin/serve
USER scones
EXPOSE 8080
CMD ["serve"]
"""


def write_context(directory: Path) -> Path:
    """Write a complete build context (Dockerfile, serve, pyproject.toml, src/scones) to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(dockerfile())
    (directory / "serve").write_text(SERVE_SCRIPT)
    (directory / "serve").chmod(0o755)
    (directory / "pyproject.toml").write_text(PYPROJECT)
    target = directory / "src" / "scones"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE_ROOT, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return directory
