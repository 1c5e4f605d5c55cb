"""A team's own folder of photos through the whole CLI, with the same commands as the seed's CIFAR data
(issue #19): stage -> train at 64x64 -> evaluate -> deploy and invoke over HTTP -> monitor baseline and
run -> review (list, label) -> `scones dataset add-reviewed` -> `scones retrain`. The stages are tested
one by one in their own folders; this walks one folder of JPEGs of mixed sizes through all of them."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import registry
from scones.model import artifact
from scones.storage import Store
from tests.data.photos import cifar_rows, imbalanced_folder, jpeg, png
from tests.model.conftest import TINY

CLASSES = ["cat", "dog", "elk"]
HYPERPARAMETERS = {**TINY, "epochs": 1, "image_shape": "3,64,64", "num_classes": 3}
TRAFFIC = 30  # photos besides the two: the monitor's distribution checks need 30 records


def _run(*argv: str, codes: tuple[int, ...] = (0,)) -> Any:
    result = CliRunner().invoke(app, list(argv), env={"COLUMNS": "250"})
    assert result.exit_code in codes, f"scones {' '.join(argv)} exited {result.exit_code}: {result.output}"
    return result


def _json(*argv: str, codes: tuple[int, ...] = (0,)) -> Any:
    return json.loads(_run(*argv, "--json", codes=codes).stdout)


def _captured_records(home: Path) -> int:
    files = (home / "buckets" / "scones" / "data_capture" / "photos").rglob("*.jsonl")
    return sum(len(f.read_text().splitlines()) for f in files)


def _wait_for_records(home: Path, count: int, timeout: float = 30.0) -> int:
    """The capture writer holds records up to 5 s before it writes a file: wait for `count` of them."""
    deadline = time.monotonic() + timeout
    while (seen := _captured_records(home)) < count and time.monotonic() < deadline:
        time.sleep(0.25)
    return seen


def test_a_folder_of_photos_goes_through_every_stage(
    settings: Settings, store: Store, clean_environ: Path, tmp_path: Path
) -> None:
    folder = imbalanced_folder(tmp_path / "photos", dict.fromkeys(CLASSES, 10))  # 96x96 and 160x120 JPEGs

    # 1 stage: class names are the folder names; 20% held out per class
    staged = _run("stage", "--source", str(folder)).stdout
    assert "Staged 24 train + 6 test images of cat, dog, elk to s3://scones/data" in staged
    manifest = json.loads(store.get("scones", "data/manifest.json"))
    assert manifest["classes"] == CLASSES
    lst = store.get("scones", "data/train.lst").decode().splitlines()
    assert sorted({line.split("\t")[1] for line in lst}) == ["0", "1", "2"]
    assert all(line.split("\t")[2].endswith(".jpg") for line in lst)  # the JPEGs as they are, not re-encoded

    # 2 train: tiny, one epoch, read at 64x64 (the net folds 2x2 pixels into channels and runs at 32x32)
    trained = _run(
        "train", "--name", "photos-job", *[a for k, v in HYPERPARAMETERS.items() for a in ("-p", f"{k}={v}")]
    )
    assert "Training job photos-job: Completed" in trained.output
    described = json.loads(_run("describe-training-job", "photos-job").stdout)
    assert described["status"] == "Completed" and described["hyperparameters"]["image_shape"] == "3,64,64"
    model = artifact.load("s3://scones/models/photos-job/output/model.tar.gz", store)
    assert model.classes == CLASSES and model.manifest.preprocessing.image_shape == (3, 64, 64)
    assert model.weights is not None
    stem = torch.load(io.BytesIO(model.weights), weights_only=True)["whiten.weight"]
    assert stem.shape[1] == 12  # 64x64 folded space-to-depth: 2x2 pixels of 3 channels, the net at 32x32 inside

    # 3 evaluate: the held-out photos at the model's 64x64, figures per class name
    figures = _json("evaluate", "--model", "photos-job")
    assert figures["images"] == 6 and figures["classes"] == CLASSES
    assert set(figures["precision"]) == set(figures["recall"]) == set(CLASSES)
    assert sum(map(sum, figures["confusion"])) == 6

    # 4 deploy with capture at 100%; over HTTP: a big JPEG, an RGBA PNG, then a day's traffic of photos
    rows = cifar_rows(TRAFFIC + 2, seed=11)
    big, small = tmp_path / "big.jpg", tmp_path / "small.png"
    big.write_bytes(jpeg(rows[0], (800, 600)))
    small.write_bytes(png(Image.fromarray(rows[1]).resize((150, 100)).convert("RGBA")))
    traffic = []
    for i, pixels in enumerate(rows[2:]):
        traffic.append(tmp_path / "traffic" / f"{i:03d}.jpg")
        traffic[-1].parent.mkdir(exist_ok=True)
        traffic[-1].write_bytes(jpeg(pixels, (96, 96) if i % 2 else (160, 120)))
    _run("deploy", "--name", "photos", "--model", "photos-job", "--capture-percent", "100")
    try:
        answers = _json("invoke", "photos", str(big), str(small))
        assert [a["file"] for a in answers] == [str(big), str(small)]
        for answer in answers:
            assert answer["class"] in CLASSES and len(answer["probabilities"]) == 3
            assert abs(sum(answer["probabilities"]) - 1) < 1e-4
            assert answer["class"] == CLASSES[int(np.argmax(answer["probabilities"]))]
        answers += _json("invoke", "photos", *map(str, traffic))
        assert {a["class"] for a in answers} <= set(CLASSES)
        assert _wait_for_records(clean_environ, len(answers)) == len(answers)

        # 5 monitor: a baseline from the staged photos read at the model's size, then the captured window
        baseline = _json("monitor", "baseline", "--endpoint", "photos")
        assert baseline["classes"] == CLASSES and baseline["model"].endswith("/photos-job/output/model.tar.gz")
        assert baseline["training_images"] == 24 and baseline["held_out"] == 6
        report = _json("monitor", "run", "--endpoint", "photos", codes=(0, 3))
        assert report["records"] == len(answers) and report["read"]["corrupt_lines"] == 0
        output = report["output"].split("/", 3)[3]
        counts = json.loads(store.get("scones", f"{output}/statistics.json"))["scones"]["counts"]
        assert counts["decoded"] == len(answers) and counts["undecodable"] == 0  # every photo read, the big one too
        unsure = [a for a in answers if max(a["probabilities"]) < settings.threshold]  # the queue's line too
        assert counts["low_confidence"] == len(unsure)
        checks = json.loads(store.get("scones", f"{output}/checks.json"))["checks"]
        evaluated = {c["check_type"] for c in checks if c["evaluated"]}
        assert {"prediction_drift_check", "confidence_drift_check", "baseline_drift_check"} <= evaluated
        assert bool(report["violations"]) == any(c["violated"] for c in checks)

        # 6 review: the tiny model's low-confidence answers are queued; label six of them with class names
        queued = _json("review", "list", "photos", "--limit", "0")
        low = [i for i in queued if i["reason"] == "low-confidence"]
        assert sorted(i["probabilities"] for i in low) == sorted(a["probabilities"] for a in unsure)
        mine = {}  # item id -> (the class a reviewer gives it, the photo it is)
        for answer, name, path in ((answers[0], "cat", big), (answers[1], "dog", small)):
            found = [i for i in low if i["probabilities"] == answer["probabilities"]]
            assert len(found) == 1, f"{path.name} is not in the queue once: {answer}"
            assert found[0]["content_type"] == ("image/jpeg" if path == big else "image/png")
            mine[found[0]["id"]] = (name, path)
        given = {item_id: name for item_id, (name, _) in mine.items()}
        given.update(
            {i["id"]: ["cat", "dog"][n % 2] for n, i in enumerate([i for i in low if i["id"] not in mine][:4])}
        )
        assert len(given) == 6, f"only {len(low)} answers were unsure"
        for item_id, name in given.items():
            assert f"{item_id}: {name}" in _run("review", "label", "photos", item_id, name, "--reviewer", "ann").stdout
        labelled = _json("review", "list", "photos", "--status", "labelled")
        assert {i["id"]: i["label_class"] for i in labelled} == given

        # 7 dataset add-reviewed: a new version, the staged photos + the six, each file under its label;
        # per class a share of 0.2 of three holds one out as reviewed-test, the split retrain judges on
        version = _json("dataset", "add-reviewed", "photos")
        assert version["uri"] == "s3://scones/data-v2" and version["classes"] == CLASSES
        assert version["added"] == {"train": 4, "reviewed-test": 2}
        assert version["counts"] == {"train": 24 + 4, "test": 6, "reviewed-test": 2}
        provenance = json.loads(store.get("scones", "data-v2/manifest.json"))["provenance"]
        assert {p["item_id"]: p["class"] for p in provenance} == given
        for item_id, (name, path) in mine.items():
            entry = next(p for p in provenance if p["item_id"] == item_id)
            lines = store.get("scones", f"data-v2/{entry['split']}.lst").decode().splitlines()
            assert f"\t{CLASSES.index(name)}\t{entry['path']}" in {line[line.index("\t") :] for line in lines}
            assert store.get("scones", f"data-v2/{entry['split']}/{entry['path']}") == path.read_bytes()  # as sent

        # 8 retrain: a candidate warm-started from the served model, at 64x64, named with the photos' classes
        body = _json("retrain", "photos", "--epochs", "1", "--no-deploy")
        assert body["dataset"] == "s3://scones/data-v2" and body["candidate"]["warm_start"]
        assert body["candidate"]["evaluation"]["reviewed-test"]["images"] == 2
        assert body["decision"]["status"] == "PendingManualApproval" and not body["decision"]["deploy"]
        candidate = artifact.load(body["candidate"]["model"], store)
        assert candidate.classes == CLASSES and candidate.manifest.preprocessing.image_shape == (3, 64, 64)
    finally:
        registry.delete(settings, "photos")
