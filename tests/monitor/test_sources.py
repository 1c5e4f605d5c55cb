from __future__ import annotations

from scones.config import Settings
from scones.monitor.sources import baseline_uri, endpoint_info, monitoring_uri
from tests.helpers import register_endpoint


def test_unregistered_endpoint_uses_the_default_destination(settings: Settings) -> None:
    info = endpoint_info(settings, "ep")
    assert info.capture == "s3://scones/data_capture/ep/AllTraffic" and not info.registered and info.model is None


def test_registered_endpoint_config_is_used(settings: Settings) -> None:
    config = {"capture_destination": "s3://other/cap", "variant": "Blue", "classes": ["a", "b", "c"]}
    register_endpoint(
        settings, "ep", "http://127.0.0.1:1", model="s3://scones/models/j/output/model.tar.gz", config=config
    )
    info = endpoint_info(settings, "ep")
    assert info.capture == "s3://other/cap/ep/Blue" and info.classes == ["a", "b", "c"]
    assert info.model == "s3://scones/models/j/output/model.tar.gz"


def test_locations() -> None:
    from scones.config import load_settings

    settings = load_settings(bucket="my-bucket")
    assert baseline_uri(settings, "ep") == "s3://my-bucket/monitoring/ep/baseline"
    assert monitoring_uri(settings, "a/b", "run") == "s3://my-bucket/monitoring/a-b/run"
