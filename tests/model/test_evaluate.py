from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scones.config import Settings
from scones.data.dataset import read_split
from scones.errors import ArtifactError, BadImage, TrainingError
from scones.model import jobs
from scones.model.evaluate import evaluate, expected_calibration_error, metrics, predict, resolve_model
from scones.storage import Store
from tests.helpers import stage_colours, tiny_artifact


def test_metrics_on_known_predictions() -> None:
    probabilities = np.array([[0.99, 0.01], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05]])
    labels = np.array([0, 1, 1, 1])
    m = metrics(probabilities, labels, ["bicycle", "motorcycle"], threshold=0.93)
    assert m["accuracy"] == 0.5
    assert m["confusion"] == [[1, 0], [2, 1]]
    assert m["precision"] == {"bicycle": pytest.approx(1 / 3), "motorcycle": 1.0}
    assert m["recall"] == {"bicycle": 1.0, "motorcycle": pytest.approx(1 / 3)}
    assert m["confident_share"] == 0.5 and m["confident_accuracy"] == 0.5
    assert m["f1"] == {"bicycle": pytest.approx(0.5), "motorcycle": pytest.approx(0.5)}
    assert m["macro"] == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.5)}


def test_macro_average_counts_a_small_class_once() -> None:
    # 8 of class a all right, 2 of class b all wrong, no c: accuracy 0.8, but the macro recall is 1/3.
    probabilities = np.array([[0.9, 0.1, 0.0]] * 10)
    labels = np.array([0] * 8 + [1] * 2)
    m = metrics(probabilities, labels, ["a", "b", "c"], threshold=0.5)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["recall"] == {"a": 1.0, "b": 0.0, "c": 0.0} and m["macro"]["recall"] == pytest.approx(1 / 3)
    assert m["f1"]["b"] == 0.0


def test_calibration_error() -> None:
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0
    assert expected_calibration_error(np.array([0.9] * 10), np.array([True] * 9 + [False])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.99] * 4), np.array([True, False] * 2)) == pytest.approx(0.49)


def test_evaluate_by_uri_path_and_job_name(settings: Settings, store: Store, tmp_path: object) -> None:
    stage_colours(store)
    store.put("scones", "models/tiny/output/model.tar.gz", tiny_artifact().pack())
    result = evaluate(
        settings,
        "s3://scones/models/tiny/output/model.tar.gz",
        "s3://scones/data/test",
        "s3://scones/data/test.lst",
        store=store,
    )
    assert result.accuracy == 1.0 and result.images == 3 and result.confusion == [[1, 0], [0, 2]]
    assert result.confident_share == 1.0 and result.expected_calibration_error < 0.1
    jobs.create(settings, "tiny", {}, {}, "x")
    jobs.finish(
        settings, "tiny", "Completed", duration_seconds=1, artifact_uri="s3://scones/models/tiny/output/model.tar.gz"
    )
    by_name = evaluate(settings, "tiny", "s3://scones/data/test", "s3://scones/data/test.lst", store=store)
    assert by_name.as_dict() == result.as_dict()


def test_unknown_model_and_bad_artifact(settings: Settings, store: Store) -> None:
    stage_colours(store)
    with pytest.raises(TrainingError, match="no training job nope"):
        resolve_model(settings, "nope")
    store.put("scones", "junk.tar.gz", b"junk")
    with pytest.raises(ArtifactError, match="not a readable"):
        evaluate(settings, "s3://scones/junk.tar.gz", "s3://scones/data/test", "s3://scones/data/test.lst", store=store)


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_evaluation_gives_the_in_memory_figures(
    settings: Settings, store: Store, bike_moto: Path, workers: int
) -> None:
    # 1,000 real PNGs: four loader batches of up to 256, the last one short; the old path read the split whole.
    art = tiny_artifact()
    store.put("scones", "models/tiny.tar.gz", art.pack())
    images, lst = str(bike_moto / "train"), str(bike_moto / "train.lst")
    split = read_split(store, images, lst)
    expected = metrics(predict(art, split.images), split.labels, art.classes, settings.threshold)
    result = evaluate(settings, "s3://scones/models/tiny.tar.gz", images, lst, store=store, workers=workers)
    assert result.images == len(split) == 1000
    assert {k: getattr(result, k) for k in expected} == expected


def test_streamed_evaluation_reads_from_s3(s3_settings: Settings, s3_store: Store) -> None:
    stage_colours(s3_store, s3_settings.bucket)
    uri = f"s3://{s3_settings.bucket}/models/tiny.tar.gz"
    s3_store.put(s3_settings.bucket, "models/tiny.tar.gz", tiny_artifact().pack())
    data = f"s3://{s3_settings.bucket}/data"
    result = evaluate(s3_settings, uri, f"{data}/test", f"{data}/test.lst", store=s3_store, workers=2)
    assert result.accuracy == 1.0 and result.confusion == [[1, 0], [0, 2]]


def test_a_corrupt_image_is_one_error_naming_it(settings: Settings, store: Store) -> None:
    stage_colours(store)
    store.put("scones", "data/test/c1.png", b"\x89PNG\r\n\x1a\n truncated")
    store.put("scones", "models/tiny.tar.gz", tiny_artifact().pack())
    with pytest.raises(BadImage) as error:
        evaluate(settings, "s3://scones/models/tiny.tar.gz", "s3://scones/data/test", "s3://scones/data/test.lst",
                 store=store)  # fmt: skip
    message = str(error.value)
    assert "c1.png is not a readable image" in message and "\n" not in message and "Traceback" not in message
