"""Transfer learning from weights the tests make: a scones artifact or a plain state dict."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from scones.config import Settings
from scones.errors import TrainingError
from scones.model import artifact
from scones.model.net import NetConfig, build
from scones.model.pretrained import is_head, load_backbone, read_weights
from scones.model.train import train
from scones.storage import Store
from tests.model.conftest import TINY


def _net(classes: int, width: int = 4) -> torch.nn.Module:
    return build(NetConfig(num_layers=8, width=width, num_classes=classes, architecture="airbench", members=1), 1)


def test_the_backbone_is_copied_and_the_head_is_new() -> None:
    source, target = _net(2), _net(3)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    count = load_backbone(target, source.state_dict(), "source.pt")
    after = target.state_dict()
    assert count == len([k for k in after if not is_head(k)]) > 4
    for name, value in after.items():
        if is_head(name):
            assert torch.equal(value, before[name]) and value.shape[0] == 3  # the new classes' own head
        else:
            assert torch.equal(value, source.state_dict()[name])


def test_a_different_backbone_is_refused() -> None:
    with pytest.raises(
        TrainingError, match=r"does not fit this network: .* backbone tensors .*architecture, num_layers"
    ):
        load_backbone(_net(2, width=8), _net(2, width=4).state_dict(), "other.pt")


def test_weights_from_another_size_band_are_refused() -> None:
    folded = build(NetConfig(num_layers=8, width=4, num_classes=2, architecture="airbench", downsample=2), 1)
    with pytest.raises(TrainingError, match=r"whiten\.weight.*image_shape in its size band \(32-63 px, 64-127 px"):
        load_backbone(folded, _net(2).state_dict(), "small.pt")


def test_state_dict_files_and_bad_files(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(_net(2).state_dict(), path)
    assert set(read_weights(store, str(path))) == set(_net(2).state_dict())
    store.put("scones", "weights/w.pt", path.read_bytes())
    assert set(read_weights(store, "s3://scones/weights/w.pt")) == set(_net(2).state_dict())
    (tmp_path / "junk.pt").write_bytes(b"not a state dict")
    with pytest.raises(TrainingError, match="junk.pt is not a PyTorch state dict"):
        read_weights(store, str(tmp_path / "junk.pt"))
    with pytest.raises(TrainingError, match="No pretrained weights at"):
        read_weights(store, str(tmp_path / "missing.pt"))
    buffer = io.BytesIO()
    torch.save({"epoch": 3}, buffer)
    (tmp_path / "meta.pt").write_bytes(buffer.getvalue())
    with pytest.raises(TrainingError, match="not a state dict of tensors"):
        read_weights(store, str(tmp_path / "meta.pt"))


def test_fine_tune_a_new_class_set_from_a_scones_artifact(settings: Settings, staged: Store, tmp_path: Path) -> None:
    from scones.data.stage import stage
    from tests.data.photos import imbalanced_folder

    first = train(settings, {**TINY, "epochs": 1}, store=staged)  # 2 classes, 32x32: the weights the test makes
    parent = artifact.load(first["artifact_uri"], staged)
    assert parent.weights is not None  # model.tar.gz carries weights.pt since issue #19
    stage(staged, imbalanced_folder(tmp_path / "photos", {"a": 10, "b": 10, "c": 10}), prefix="three")
    hp = {
        **TINY,
        "epochs": 1,
        "num_classes": 3,
        "use_pretrained_model": "1",
        "pretrained_weights": first["artifact_uri"],
    }
    from scones.model.channels import Channels

    channels = Channels.located(settings, "s3://scones/three")
    lines: list[str] = []

    class Lines:
        def start(self, description: str, total: int | None = None) -> None: ...
        def advance(self, n: int = 1) -> None: ...
        def log(self, message: str) -> None:
            lines.append(message)

    record = train(settings, hp, channels=channels, store=staged, progress=Lines())
    child = artifact.load(record["artifact_uri"], staged)
    assert child.classes == ["a", "b", "c"] and child.manifest.hyperparameters["use_pretrained_model"] == 1
    assert any(line.startswith("Transfer learning: ") and "a new head" in line for line in lines)
    scratch = train(
        settings, {**hp, "use_pretrained_model": "0", "pretrained_weights": ""}, channels=channels, store=staged
    )
    assert artifact.load(scratch["artifact_uri"], staged).manifest.model_sha256 != child.manifest.model_sha256
    assert np.isfinite(record["metrics"]["validation_accuracy"])


def test_pretrained_hyperparameters_come_together() -> None:
    from scones.model.hyperparameters import parse

    with pytest.raises(TrainingError, match="use_pretrained_model=1 is invalid; expected pretrained_weights=PATH"):
        parse({"use_pretrained_model": "1"})
    with pytest.raises(TrainingError, match="pretrained_weights='w.pt' is invalid; expected use_pretrained_model=1"):
        parse({"pretrained_weights": "w.pt"})
    with pytest.raises(TrainingError, match="use_pretrained_model=2"):
        parse({"use_pretrained_model": "2", "pretrained_weights": "w.pt"})
