"""The endpoint stage's commands through the CLI runner (deploy, invoke, ... are in tests/endpoint)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.server import endpoint_config
from tests.helpers import tiny_artifact, write_model

runner = CliRunner()


def test_update_endpoint_command(settings: Settings, tmp_path: Path, model_file: Path) -> None:
    second = write_model(tmp_path / "b.tar.gz", tiny_artifact(("bicycle", "motorcycle", "scooter")))
    registry.deploy(settings, endpoint_config(settings, name="cli-update", port=0), str(model_file), timeout=60)
    try:
        result = runner.invoke(app, ["update-endpoint", "cli-update", "--model", str(second)])
        assert result.exit_code == 0, result.output
        assert f"cli-update now serves {second}" in result.output
        assert registry.describe(settings, "cli-update").config["classes"] == ["bicycle", "motorcycle", "scooter"]
    finally:
        registry.delete(settings, "cli-update")


def test_update_unknown_endpoint_is_one_line(model_file: Path) -> None:
    result = runner.invoke(app, ["update-endpoint", "nope", "--model", str(model_file)])
    assert result.exit_code == 1 and "No endpoint named 'nope'" in result.output and "Traceback" not in result.output


def test_transform_command_answers_every_image_and_names_the_corrupt_one(settings: Settings, model_file: Path) -> None:
    import json

    from scones.storage import Store
    from tests.helpers import png_bytes

    store = Store(settings)
    for i in range(5):
        store.put(settings.bucket, f"day/p{i}.png", png_bytes((200, 30, 30)))
    argv = ["transform", "--model", str(model_file), "--input", "s3://scones/day/", "--output", "s3://scones/out/"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "5 answers written to s3://scones/out/" in result.stdout
    assert json.loads(store.get("scones", "out/p3.png.out"))[0] > 0.99
    store.put(settings.bucket, "day/broken.jpg", b"\xff\xd8\xff\xe0 not really")
    again = runner.invoke(app, [*argv, "--json"])
    assert again.exit_code == 1
    assert json.loads(again.stdout)["skipped"] == 5
    assert again.stderr.strip().splitlines()[-1].startswith("Error: 1 of 6 inputs could not be classified")
    assert "broken.jpg" in again.stderr.strip().splitlines()[-1]
