"""Fixtures of the AWS tests: a local scones with staged data and a model, and moto over HTTP."""

from __future__ import annotations

import json
import uuid

import pytest

from scones.aws import AwsOptions
from scones.config import Settings
from scones.storage import Store
from tests.helpers import png_bytes


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (through the standard AWS_ENDPOINT_URL) at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def staged(settings: Settings) -> Store:
    """A tiny staged dataset in the local store, in stage 1's layout."""
    store = Store(settings)
    store.put(settings.bucket, "data/test/bicycle_s_000030.png", png_bytes((200, 30, 30)))
    store.put(settings.bucket, "data/train/motorcycle_s_000001.png", png_bytes((30, 30, 200)))
    store.put(settings.bucket, "data/test.lst", b"0\t0\ttest/bicycle_s_000030.png\n")
    store.put(settings.bucket, "data/train.lst", b"0\t1\ttrain/motorcycle_s_000001.png\n")
    manifest = {"classes": ["bicycle", "motorcycle"], "counts": {"train": 1, "test": 1}, "source": "test"}
    store.put(settings.bucket, "data/manifest.json", json.dumps(manifest).encode())
    return store


@pytest.fixture
def options() -> AwsOptions:
    """Options with names unique to the test (the moto server lives for the whole session)."""
    tag = uuid.uuid4().hex[:8]
    return AwsOptions(
        bucket=f"scones-aws-{tag}",
        region="us-east-1",
        name=f"t{tag}",
        endpoint_name=f"classifier-{tag}",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/scones-serve:test",
    )
