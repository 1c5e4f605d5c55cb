from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch

from scones.errors import ArtifactError
from scones.model import artifact
from scones.model.export import TOLERANCE, export_net, fit_temperature, to_onnx, verify
from scones.model.net import Exported, NetConfig, build
from scones.model.plot import accuracy_plot
from tests.helpers import tiny_artifact


def _trained_looking_net(architecture: str = "resnet", members: int = 1) -> torch.nn.Module:
    """A small net with non-trivial BatchNorm statistics (as after training)."""
    config = NetConfig(num_layers=8, width=4, architecture=architecture, members=members)  # type: ignore[arg-type]
    net = build(config, 0)
    net.prepare(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    return net.eval()


@pytest.mark.parametrize(
    ("architecture", "members", "shift"),
    [("resnet", 1, False), ("resnet", 1, True), ("airbench", 1, True), ("airbench", 2, False), ("resnet", 2, True)],
)
def test_onnx_equals_pytorch_within_tolerance_at_any_batch_size(architecture: str, members: int, shift: bool) -> None:
    import onnxruntime as ort

    net = _trained_looking_net(architecture, members)
    exported = Exported(net, temperature=1.7, shift=shift).eval()
    data = to_onnx(exported, (3, 32, 32))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["probabilities", "embedding"]
    for n in (1, 5, 33):
        x = torch.randn(n, 3, 32, 32)
        probabilities, embedding = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            want_p, want_e = exported(x)
        assert probabilities.shape == (n, 2) and embedding.shape == (n, 16 * members)
        assert np.abs(probabilities - want_p.numpy()).max() <= TOLERANCE
        assert np.abs(embedding - want_e.numpy()).max() <= TOLERANCE * max(1.0, float(want_e.abs().max()))
    verify(data, exported, torch.randn(4, 3, 32, 32))  # the check training runs before storing


def test_verify_refuses_a_graph_that_differs() -> None:
    net = _trained_looking_net()
    other = export_net(build(NetConfig(num_layers=8, width=4), 1).eval())
    with pytest.raises(ArtifactError, match="differs from PyTorch"):
        verify(other, Exported(net).eval(), torch.randn(4, 3, 32, 32))


def test_temperature_fits_over_and_under_confidence() -> None:
    labels = torch.tensor([0, 1] * 50)
    right = torch.nn.functional.one_hot(labels, 2).float() * 2 - 1
    noisy = right.clone()
    noisy[::4] *= -1  # 75% right
    assert fit_temperature(noisy * 10, labels) > 2  # overconfident logits get cooled
    assert fit_temperature(right * 0.2, labels) < 1  # timid logits that are always right get sharpened


def test_artifact_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    art = tiny_artifact()
    back = artifact.unpack(art.pack())
    assert back == art
    assert art.pack() == art.pack()  # deterministic bytes


def test_corrupt_or_foreign_archives_are_artifact_errors() -> None:
    packed = tiny_artifact().pack()
    with pytest.raises(ArtifactError, match="not a readable model.tar.gz"):
        artifact.unpack(packed[: len(packed) // 2])
    with pytest.raises(ArtifactError, match="not a readable model.tar.gz"):
        artifact.unpack(b"not a tarball at all")
    foreign = io.BytesIO()
    with tarfile.open(fileobj=foreign, mode="w:gz") as tar:
        info = tarfile.TarInfo("model-symbol.json")  # an MXNet SageMaker artifact, say
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ArtifactError, match="not a scones model"):
        artifact.unpack(foreign.getvalue())
    tampered = io.BytesIO()
    art = tiny_artifact()
    with tarfile.open(fileobj=tampered, mode="w:gz") as tar:
        for name, data in (("manifest.json", art.manifest.to_json().encode()), ("model.onnx", art.onnx + b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        artifact.unpack(tampered.getvalue())


def test_plot_is_a_png() -> None:
    epochs = [{"epoch": i, "train_accuracy": 0.5 + i / 10, "validation_accuracy": 0.5 + i / 20} for i in range(4)]
    assert accuracy_plot(epochs, 3, "job").startswith(b"\x89PNG")
