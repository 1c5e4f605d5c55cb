from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from scones.config import Settings
from scones.errors import DataError, TrainingError
from scones.model import artifact, jobs
from scones.model.evaluate import predict
from scones.model.hyperparameters import parse
from scones.model.recipe import augment
from scones.model.train import Channels, Epoch, reusable_job, train
from scones.storage import Store
from tests.model.conftest import TINY, synthetic_split


def test_tiny_training_completes_with_artifact_plot_and_record(settings: Settings, staged: Store) -> None:
    lines: list[str] = []

    class Lines:
        def start(self, description: str, total: int | None = None) -> None: ...
        def advance(self, n: int = 1) -> None: ...
        def log(self, message: str) -> None:
            lines.append(message)

    record = train(settings, TINY, progress=Lines(), store=staged)
    assert record["status"] == "Completed"
    assert record["artifact_uri"] == f"s3://scones/models/{record['name']}/output/model.tar.gz"
    metrics = record["metrics"]
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1]
    assert metrics["validation_accuracy"] == max(e["validation_accuracy"] for e in metrics["epochs"])
    assert {"train_loss", "train_accuracy", "validation_accuracy", "seconds"} <= set(metrics["epochs"][0])
    assert "Epoch[0] Train-accuracy=" in "\n".join(lines) and "Epoch[1] Validation-accuracy=" in "\n".join(lines)
    assert (settings.logs_dir / "training" / f"{record['name']}.log").read_text().count("Validation-accuracy") == 2

    art = artifact.load(record["artifact_uri"], staged)
    assert art.classes == ["bicycle", "motorcycle"]
    assert art.manifest.training_job == record["name"]
    assert art.manifest.data_checksum == record["data_checksum"]
    assert art.manifest.embedding_dim == 16 and art.manifest.hyperparameters["num_layers"] == 8
    assert staged.get("scones", jobs.plot_key(record["name"])).startswith(b"\x89PNG")
    images, _ = synthetic_split(5, seed=9)
    probabilities = predict(art, images)
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_same_seed_same_model(settings: Settings, staged: Store) -> None:
    hp = {**TINY, "epochs": 1, "checkpoint_frequency": 1}
    first = train(settings, hp, store=staged)
    second = train(settings, hp, store=staged)
    images, _ = synthetic_split(8, seed=5)
    a, b = (artifact.load(r["artifact_uri"], staged) for r in (first, second))
    assert np.array_equal(predict(a, images), predict(b, images))
    assert a.manifest.model_sha256 == b.manifest.model_sha256
    # checkpoint_frequency=1 also stored the epoch's weights beside the model
    keys = [o.key for o in staged.list("scones", f"models/{first['name']}/checkpoints/")]
    assert keys == [f"models/{first['name']}/checkpoints/epoch-0000.pt"]


def test_interrupt_mid_training_stops_and_keeps_best_so_far(settings: Settings, staged: Store) -> None:
    def interrupt(epoch: Epoch) -> None:
        if epoch.epoch == 1:
            raise KeyboardInterrupt

    record = train(settings, {**TINY, "epochs": 6}, store=staged, on_epoch=interrupt)
    assert record["status"] == "Stopped"
    assert record["metrics"]["epochs_run"] == 2
    art = artifact.load(record["artifact_uri"], staged)
    assert art.manifest.metrics["best_epoch"] in (0, 1)
    assert jobs.describe(settings, record["name"])["status"] == "Stopped"


def test_early_stopping_with_adam_and_steplr_multiplier(settings: Settings, staged: Store) -> None:
    hp = {**TINY, "epochs": 12, "optimizer": "adam", "learning_rate": 1e-7, "lr_scheduler_step": "2,4"}
    hp |= {"early_stopping": "True", "early_stopping_min_epochs": 3, "early_stopping_patience": 2}
    record = train(settings, hp, store=staged)
    assert record["status"] == "Completed"
    assert 3 <= record["metrics"]["epochs_run"] < 12  # a learning rate this small never improves


def test_nothing_staged_is_a_clear_error_and_no_job(settings: Settings, store: Store) -> None:
    with pytest.raises(DataError, match="scones stage"):
        train(settings, TINY, store=store)
    assert jobs.list_jobs(settings) == []


def test_data_that_contradicts_hyperparameters_fails_before_a_job(settings: Settings, staged: Store) -> None:
    with pytest.raises(TrainingError, match="num_training_samples=1000 but the train channel holds 64"):
        train(settings, {**TINY, "num_training_samples": 1000}, store=staged)
    assert jobs.list_jobs(settings) == []


def test_name_given_and_taken(settings: Settings, staged: Store) -> None:
    assert train(settings, TINY, name="my-job", store=staged)["name"] == "my-job"
    with pytest.raises(TrainingError, match="already exists"):
        train(settings, TINY, name="my-job", store=staged)


def test_channels_default_to_staged_layout(settings: Settings) -> None:
    channels = Channels.staged(settings, validation="s3://other/val")
    assert channels.train == "s3://scones/data/train" and channels.train_lst == "s3://scones/data/train.lst"
    assert channels.validation == "s3://other/val" and channels.validation_lst == "s3://scones/data/test.lst"


@pytest.mark.parametrize("kind", ["none", "crop", "crop_color", "crop_color_transform", "trivial"])
def test_augmentation_keeps_shape_and_range(kind: str) -> None:
    x = torch.rand(8, 3, 32, 32)
    out = augment(x, parse({"augmentation_type": kind}), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, x) == (kind == "none")


def test_warp_keeps_shape_range_and_is_seeded() -> None:
    x = torch.rand(8, 3, 32, 32)
    hp = parse({"augmentation_type": "crop_color_transform", "warp": "True", "cutout": 0})
    a = augment(x, hp, torch.Generator().manual_seed(1))
    b = augment(x, hp, torch.Generator().manual_seed(1))
    plain = augment(x, hp.replace(warp=False), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, plain)


@pytest.mark.parametrize("kind", ["none", "mixup", "cutmix"])
def test_mix_targets_are_distributions_matching_the_pixels(kind: str) -> None:
    from scones.model.recipe import mix

    y = torch.tensor([0, 1] * 8)
    x = y.float().view(-1, 1, 1, 1).expand(16, 3, 32, 32).clone()  # label 0 images are 0, label 1 are 1
    out, target = mix(x, y, parse({"mix": kind}), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and target.shape == (16, 2)
    assert torch.allclose(target.sum(1), torch.ones(16))
    # the share of label 1 in the target is the mean pixel value: what the image is made of
    assert torch.allclose(target[:, 1], out.mean(dim=(1, 2, 3)), atol=1e-5)
    assert torch.equal(out, x) == (kind == "none")


def test_schedules_warmup_cosine_and_sagemaker_steps() -> None:
    from scones.model.recipe import lr_multiplier

    cosine = lr_multiplier(parse({"epochs": 10, "warmup_epochs": 2}), steps_per_epoch=10)
    assert cosine(0) == pytest.approx(0.05) and cosine(19) == pytest.approx(1.0)
    assert cosine(20) == pytest.approx(1.0) and cosine(99) < 0.001
    step = lr_multiplier(parse({"epochs": 30, "lr_scheduler_step": "10,20", "lr_scheduler_factor": 0.5}), 4)
    assert [step(s) for s in (0, 39, 40, 79, 80)] == [1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(("name", "kind"), [("sgd", "SGD"), ("nag", "SGD"), ("adam", "AdamW"), ("rmsprop", "RMSprop")])
def test_optimizers_by_sagemaker_name(name: str, kind: str) -> None:
    from scones.model.net import NetConfig, build
    from scones.model.recipe import make_optimizer

    optimizer = make_optimizer(build(NetConfig(num_layers=8, width=4), 0), parse({"optimizer": name}))
    assert type(optimizer).__name__ == kind
    assert optimizer.param_groups[1]["weight_decay"] == 0.0  # no decay on BatchNorm and biases
    if name in ("sgd", "nag"):
        assert optimizer.param_groups[0]["nesterov"] == (name == "nag")


def test_an_error_mid_training_marks_the_job_failed(settings: Settings, staged: Store) -> None:
    def fail(epoch: Epoch) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        train(settings, {**TINY, "epochs": 1}, name="doomed", store=staged, on_epoch=fail)
    record = jobs.describe(settings, "doomed")
    assert record["status"] == "Failed" and record["failure_reason"] == "RuntimeError: disk full"
    assert record["artifact_uri"] is None and record["ended"]


def test_airbench_architecture_trains_and_exports_with_shifted_views(settings: Settings, staged: Store) -> None:
    hp = {**TINY, "architecture": "airbench", "test_time_shift": "True"}
    first = train(settings, hp, store=staged)
    second = train(settings, hp, store=staged)
    art = artifact.load(first["artifact_uri"], staged)
    assert art.manifest.embedding_dim == 16 and art.manifest.hyperparameters["architecture"] == "airbench"
    images, _ = synthetic_split(6, seed=4)
    probabilities = predict(art, images)
    assert probabilities.shape == (6, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert np.array_equal(probabilities, predict(artifact.load(second["artifact_uri"], staged), images))


def test_sharpness_aware_minimisation_trains_and_changes_the_weights(settings: Settings, staged: Store) -> None:
    hp = {**TINY, "architecture": "airbench", "epochs": 1, "augmentation_type": "trivial"}
    plain = train(settings, hp, store=staged)
    sam = train(settings, {**hp, "sam_rho": "0.05"}, store=staged)
    assert sam["status"] == "Completed" and sam["metrics"]["epochs_run"] == 1
    a, b = (artifact.load(r["artifact_uri"], staged) for r in (plain, sam))
    assert a.manifest.model_sha256 != b.manifest.model_sha256
    images, _ = synthetic_split(4, seed=6)
    assert np.allclose(predict(b, images).sum(1), 1, atol=1e-5)


def test_bfloat16_mixed_precision_trains_deterministically_and_exports_float32(
    settings: Settings, staged: Store
) -> None:
    hp = {**TINY, "architecture": "airbench", "epochs": 1}
    half = train(settings, {**hp, "precision_dtype": "bfloat16"}, store=staged)
    again = train(settings, {**hp, "precision_dtype": "bfloat16"}, store=staged)
    full = train(settings, {**hp, "precision_dtype": "float32"}, store=staged)
    assert half["hyperparameters"]["precision_dtype"] == "bfloat16"
    a, b, c = (artifact.load(r["artifact_uri"], staged) for r in (half, again, full))
    assert a.manifest.model_sha256 == b.manifest.model_sha256  # same seed, same weights
    assert a.manifest.model_sha256 != c.manifest.model_sha256  # the forward pass really ran in bfloat16
    images, _ = synthetic_split(4, seed=6)
    assert np.allclose(predict(a, images).sum(1), 1, atol=1e-5)


def test_a_completed_twin_on_the_same_data_and_hyperparameters_is_reusable(settings: Settings, staged: Store) -> None:
    record = train(settings, {**TINY, "epochs": 1}, store=staged)
    hp, channels = parse({**TINY, "epochs": 1}).as_dict(), Channels.staged(settings)
    reused = reusable_job(settings, staged, channels, hp)
    assert reused is not None and reused["name"] == record["name"]
    assert reusable_job(settings, staged, channels, {**hp, "seed": 4}) is None
    assert reusable_job(settings, staged, Channels.staged(settings, "nothing-here"), hp) is None  # unreadable data


def test_trains_on_a_staged_photo_folder_at_any_image_shape(settings: Settings, store: Store, tmp_path: Path) -> None:
    from scones.data.stage import stage
    from scones.model.evaluate import evaluate
    from tests.data.photos import imbalanced_folder

    stage(store, imbalanced_folder(tmp_path / "photos", {"cat": 12, "dog": 12, "elk": 8}))  # 96x96 and 160x120 JPEGs
    record = train(settings, {**TINY, "epochs": 1, "image_shape": "3,72,66", "num_classes": 3}, store=store)
    art = artifact.load(record["artifact_uri"], store)
    assert art.manifest.preprocessing.image_shape == (3, 72, 66) and art.classes == ["cat", "dog", "elk"]
    assert art.weights is not None
    stem = torch.load(io.BytesIO(art.weights), weights_only=True)["whiten.weight"]
    assert stem.shape[1] == 12  # 72x66 folds 2x2 pixels into channels: the net runs at 36x33 inside
    result = evaluate(settings, record["artifact_uri"], "s3://scones/data/test", "s3://scones/data/test.lst", store)
    assert result.images == 6 and len(result.classes) == 3  # the test split read at the model's 72x66


def test_weighted_loss_changes_what_an_imbalanced_set_trains(settings: Settings, store: Store, tmp_path: Path) -> None:
    from scones.data.stage import StageOptions, stage
    from tests.data.photos import imbalanced_folder

    stage(store, imbalanced_folder(tmp_path / "photos", {"cat": 24, "dog": 6}), options=StageOptions(test_fraction=0.3))
    hp = {**TINY, "epochs": 1}
    plain = train(settings, hp, store=store)
    weighted = train(settings, {**hp, "use_weighted_loss": "1"}, store=store)  # SageMaker passes strings
    a, b = (artifact.load(r["artifact_uri"], store).manifest for r in (plain, weighted))
    assert b.hyperparameters["use_weighted_loss"] is True and a.hyperparameters["use_weighted_loss"] is False
    assert a.model_sha256 != b.model_sha256  # same seed and data: only the loss weights differ


def test_streamed_training_gives_the_in_memory_model(settings: Settings, staged: Store) -> None:
    """A loader with workers decoding each batch sees the same pixels in the same order: the same weights."""
    hp = {**TINY, "epochs": 1}
    in_memory = train(settings, {**hp, "data_loading": "memory"}, store=staged)
    streamed = train(settings, {**hp, "data_loading": "stream", "loader_workers": 2}, store=staged)
    a, b = (artifact.load(r["artifact_uri"], staged) for r in (in_memory, streamed))
    assert a.manifest.model_sha256 == b.manifest.model_sha256
    assert in_memory["metrics"]["validation_accuracy"] == streamed["metrics"]["validation_accuracy"]
    assert a.manifest.data_checksum == b.manifest.data_checksum
