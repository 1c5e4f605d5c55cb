from __future__ import annotations

import base64
import os

import pytest

from scones.errors import InvalidKey
from scones.functions.errors import ImageNotFound, InvalidEvent, PayloadTooLarge
from scones.functions.serialize_image_data import handler
from scones.storage import Store
from tests.helpers import png_bytes


def test_local_bucket_image_becomes_base64_in_the_seed_shape(store: Store) -> None:
    image = png_bytes()
    store.put("scones", "data/test/bicycle_s_000030.png", image)
    result = handler({"image_data": "", "s3_bucket": "scones", "s3_key": "data/test/bicycle_s_000030.png"}, None)
    assert result["statusCode"] == 200
    body = result["body"]
    assert base64.b64decode(body["image_data"]) == image
    assert (body["s3_bucket"], body["s3_key"], body["inferences"]) == ("scones", "data/test/bicycle_s_000030.png", [])


def test_wrapped_input_is_accepted(store: Store) -> None:
    store.put("scones", "a.png", png_bytes())
    result = handler({"statusCode": 200, "body": {"s3_bucket": "scones", "s3_key": "a.png"}}, None)
    assert result["body"]["s3_key"] == "a.png"


def test_missing_object_is_image_not_found(store: Store) -> None:
    with pytest.raises(ImageNotFound, match="s3://scones/nope.png"):
        handler({"s3_bucket": "scones", "s3_key": "nope.png"}, None)


@pytest.mark.parametrize("key", ["../secrets.txt", "/etc/passwd", "a/../../b", "a\\b"])
def test_key_escaping_the_bucket_is_refused(store: Store, key: str) -> None:
    store.put("scones", "inside.png", png_bytes())
    (store.settings.home / "secrets.txt").write_text("no")
    with pytest.raises(InvalidKey):
        handler({"s3_bucket": "scones", "s3_key": key}, None)


def test_symlink_out_of_the_bucket_is_not_followed(store: Store) -> None:
    store.put("scones", "inside.png", png_bytes())
    outside = store.settings.home / "outside.png"
    outside.write_bytes(png_bytes())
    os.symlink(outside, store.settings.buckets_dir / "scones" / "link.png")
    with pytest.raises(ImageNotFound):
        handler({"s3_bucket": "scones", "s3_key": "link.png"}, None)


def test_image_too_large_for_a_state_payload(store: Store) -> None:
    store.put("scones", "big.png", b"\x89PNG" + os.urandom(200_000))
    with pytest.raises(PayloadTooLarge, match="262144"):
        handler({"s3_bucket": "scones", "s3_key": "big.png"}, None)


def test_bad_events(store: Store) -> None:
    with pytest.raises(InvalidEvent, match="s3_key"):
        handler({"s3_bucket": "scones"}, None)
    with pytest.raises(InvalidEvent):
        handler(["not", "an", "object"], None)


def test_moto_s3_server(s3_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = s3_store.settings
    monkeypatch.setenv("SCONES_STORAGE", "s3")
    monkeypatch.setenv("SCONES_S3_ENDPOINT_URL", str(settings.s3_endpoint_url))
    image = png_bytes((10, 200, 10))
    s3_store.put(settings.bucket, "data/test/x.png", image)
    result = handler({"s3_bucket": settings.bucket, "s3_key": "data/test/x.png"}, None)
    assert base64.b64decode(result["body"]["image_data"]) == image
    with pytest.raises(ImageNotFound):
        handler({"s3_bucket": settings.bucket, "s3_key": "data/test/missing.png"}, None)
    s3_store.put(settings.bucket, "big.png", os.urandom(200_000))
    with pytest.raises(PayloadTooLarge):
        handler({"s3_bucket": settings.bucket, "s3_key": "big.png"}, None)
