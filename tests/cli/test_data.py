"""`scones stage` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.storage import Store
from tests.data.archives import small_archive

runner = CliRunner()


def test_stage_dev_archive_then_nothing_to_do(dev_archive: Path, clean_environ: Path) -> None:
    result = runner.invoke(app, ["stage", "--source", str(dev_archive)])
    assert result.exit_code == 0, result.output
    assert "Staged 900 train + 100 test images of bicycle, motorcycle to s3://scones/data" in result.stdout
    data = clean_environ / "buckets" / "scones" / "data"
    assert len(list((data / "train").glob("*.png"))) == 900 and len(list((data / "test").glob("*.png"))) == 100
    assert (data / "train.lst").is_file() and (data / "test.lst").is_file() and (data / "manifest.json").is_file()
    again = runner.invoke(app, ["stage", "--source", str(dev_archive)])
    assert again.exit_code == 0 and again.stdout.startswith("Nothing to do: s3://scones/data already holds")


def test_stage_classes_bucket_and_prefix(tmp_path: Path, clean_environ: Path) -> None:
    archive = str(small_archive(tmp_path / "small.tar.gz"))
    args = ["stage", "--source", archive, "--classes", "motorcycle,bicycle", "--bucket", "bikes"]
    result = runner.invoke(app, [*args, "--prefix", "sets/v1"])
    assert result.exit_code == 0, result.output
    assert "Staged 8 train + 2 test images of motorcycle, bicycle to s3://bikes/sets/v1" in result.stdout
    assert runner.invoke(app, ["stage", "--source", archive, "--bucket", "bikes"]).exit_code == 0
    bucket = clean_environ / "buckets" / "bikes"
    swapped = [line.split("\t") for line in (bucket / "sets" / "v1" / "train.lst").read_text().splitlines()]
    default = [line.split("\t") for line in (bucket / "data" / "train.lst").read_text().splitlines()]
    assert [(i, 1 - int(label), n) for i, label, n in default] == [(i, int(label), n) for i, label, n in swapped]


def test_stage_to_s3_via_global_flags(s3_settings: Settings, tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "small.tar.gz", per_class=3)
    flags = ["--storage", "s3", "--s3-endpoint-url", str(s3_settings.s3_endpoint_url)]
    result = runner.invoke(app, [*flags, "--bucket", s3_settings.bucket, "stage", "--source", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"Staged 6 train + 2 test images of bicycle, motorcycle to s3://{s3_settings.bucket}/data" in result.stdout
    keys = [o.key for o in Store(s3_settings).list(s3_settings.bucket, "data")]
    assert len(keys) == 11 and "data/manifest.json" in keys


def test_no_source_offline_gives_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same code path as the official URL, with a host that never resolves (no internet needed).
    monkeypatch.setattr("scones.data.stage.DEFAULT_SOURCE", "https://cifar.invalid/cifar-100-python.tar.gz")
    result = runner.invoke(app, ["stage"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "pass --source PATH" in errors[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "/no/such/archive.tar.gz"], "Error: No source at /no/such/archive.tar.gz"),
        (["--classes", "bicycle,bicycel"], "Error: Unknown class 'bicycel'; valid CIFAR-100 fine labels: apple,"),
        (["--prefix", "../up"], "Error: Refused object key '../up'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: list[str], message: str, dev_archive: Path) -> None:
    if "--source" not in args:
        args = [*args, "--source", str(dev_archive)]
    result = runner.invoke(app, ["stage", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_unknown_option_is_a_usage_error() -> None:
    result = runner.invoke(app, ["stage", "--clases", "bus"])
    assert result.exit_code == 2


def test_stage_an_image_folder_with_its_options(tmp_path: Path, clean_environ: Path) -> None:
    from tests.data.photos import imbalanced_folder, truncated

    folder = imbalanced_folder(tmp_path / "photos", {"cat": 6, "dog": 4})
    (folder / "dog" / "broken.jpg").write_bytes(truncated((folder / "dog" / "dog_000.jpg").read_bytes()))
    refused = runner.invoke(app, ["stage", "--source", str(folder)])
    assert refused.exit_code == 1 and "Error: 1 bad image file: " in refused.output
    assert "broken.jpg: truncated or corrupt" in refused.output and "Traceback" not in refused.output
    args = [
        "stage",
        "--source",
        str(folder),
        "--skip-bad",
        "--test-fraction",
        "0.5",
        "--seed",
        "3",
        "--classes",
        "dog,cat",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Note: skipped " in result.output and "Staged 5 train + 5 test images of dog, cat" in result.output


def test_stage_an_augmented_manifest_with_a_label_attribute(tmp_path: Path, clean_environ: Path) -> None:
    import json

    from tests.data.photos import cifar_rows, jpeg

    store = Store(Settings(home=clean_environ))
    for i, row in enumerate(cifar_rows(4)):
        store.put("photos", f"{i}.jpg", jpeg(row, (96, 96)))
    manifest = tmp_path / "day.manifest"
    manifest.write_text(
        "".join(json.dumps({"source-ref": f"s3://photos/{i}.jpg", "kind": i % 2}) + "\n" for i in range(4))
    )
    result = runner.invoke(
        app, ["stage", "--source", str(manifest), "--label-attribute", "kind", "--test-fraction", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "Staged 4 train images of 0, 1" in result.output
