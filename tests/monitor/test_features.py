from __future__ import annotations

import numpy as np
import pytest

from scones.errors import MonitorError
from scones.monitor import features
from scones.monitor.features import FEATURES, OnnxModel, image_features, output_summary
from tests.helpers import tiny_artifact


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURES.index(name)]


def test_features_of_known_images() -> None:
    flat = np.full((2, 32, 32, 3), 128, np.uint8)
    flat[1] = (255, 0, 0)
    features = image_features(flat)
    assert features.shape == (2, len(FEATURES)) and features.dtype == np.float32
    assert _column(features, "brightness")[0] == pytest.approx(128 / 255, abs=1e-4)
    assert _column(features, "contrast")[0] == pytest.approx(0, abs=1e-6)
    assert _column(features, "saturation").tolist() == pytest.approx([0.0, 1.0])
    assert _column(features, "red")[1] == pytest.approx(1.0) and _column(features, "blue")[1] == 0
    assert _column(features, "edge_energy")[0] == pytest.approx(0, abs=1e-5)
    assert _column(features, "sharpness")[0] == pytest.approx(0, abs=1e-5)


def test_orientation_and_top_bottom_respond_to_rotation() -> None:
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, :16] = 255  # bright top half: a horizontal edge
    image[0, :, ::4] //= 2  # plus fine vertical stripes on the top
    upright = image_features(image)[0]
    turned = image_features(np.rot90(image, 1, axes=(1, 2)).copy())[0]
    flipped = image_features(np.rot90(image, 2, axes=(1, 2)).copy())[0]
    i, o = FEATURES.index("top_bottom"), FEATURES.index("edge_orientation")
    assert upright[i] > 0.4 and flipped[i] < -0.4 and abs(turned[i]) < 0.1
    assert np.sign(upright[o]) == -np.sign(turned[o])


def test_vectorised_equals_one_by_one() -> None:
    batch = np.random.default_rng(1).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    together = image_features(batch)
    alone = np.concatenate([image_features(batch[i : i + 1]) for i in range(len(batch))])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(MonitorError, match="shape"):
        image_features(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(MonitorError, match="probabilities"):
        output_summary(np.ones((3, 1)))


def test_output_summary() -> None:
    predicted, max_prob, entropy = output_summary(np.asarray([[0.9, 0.1], [0.5, 0.5], [0.0, 1.0]]))
    assert predicted.tolist() == [0, 0, 1]
    assert max_prob.tolist() == pytest.approx([0.9, 0.5, 1.0])
    assert entropy[1] == pytest.approx(1.0) and entropy[2] == pytest.approx(0.0, abs=1e-9) and 0 < entropy[0] < 1


def test_model_outputs_and_embeddings() -> None:
    model = OnnxModel(tiny_artifact())
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[0] = (220, 20, 20)
    images[1] = (20, 20, 220)
    images[2] = (128, 128, 128)
    probabilities, embeddings = model.predict(images, batch_size=2)
    assert probabilities.shape == (3, 2) and embeddings is not None and embeddings.shape == (3, 3)
    assert probabilities[0, 0] > 0.93 and probabilities[1, 1] > 0.93 and abs(probabilities[2, 0] - 0.5) < 0.05
    # tiny_artifact's embedding is the normalised channel means
    np.testing.assert_allclose(embeddings[0], (images[0, 0, 0] / 255 - 0.5) / 0.5, atol=1e-5)


def test_large_images_are_measured_in_chunks_with_the_same_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(3).integers(0, 256, (10, 48, 40, 3), dtype=np.uint8)
    one_by_one = np.concatenate([image_features(image[None]) for image in images])
    monkeypatch.setattr(features, "_CHUNK_PIXELS", 3 * 48 * 40)  # chunks of 3 images: 3, 3, 3, 1
    chunks: list[int] = []
    whole = features._features
    monkeypatch.setattr(features, "_features", lambda x: chunks.append(len(x)) or whole(x))
    np.testing.assert_array_equal(image_features(images), one_by_one)
    assert chunks == [3, 3, 3, 1]
