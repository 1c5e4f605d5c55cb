"""What every peer server shares: scones' decode and preprocessing, and the ONNX session.

Imported by the peer servers in their own venvs (onnxruntime, numpy, pillow only), so it must
not import scones. The decode mirrors `scones.model.preprocess` for the 32x32 RGB PNGs the
benchmark sends (RGB conversion, bilinear resize when the size differs, scale, normalise);
`bench/peers/run.py` checks that each server's probabilities equal scones' own on one image.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np


class Model:
    """The ONNX model and its preprocessing, from the spec file run.py writes (PEERS_SPEC)."""

    def __init__(self, spec_path: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        with open(spec_path or os.environ["PEERS_SPEC"], encoding="utf-8") as handle:
            spec: dict[str, Any] = json.load(handle)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # each peer's workers split the two cores between them
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(spec["onnx"], sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name, self.output_name = spec["input_name"], spec["output_name"]
        self.size = (int(spec["width"]), int(spec["height"]))
        self.mean = np.asarray(spec["mean"], dtype=np.float32)
        self.std = np.asarray(spec["std"], dtype=np.float32)

    def decode(self, data: bytes) -> np.ndarray:
        """PNG bytes -> uint8 (H, W, 3) RGB, as scones decodes them."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return self.rgb(image)

    def rgb(self, image: Any) -> np.ndarray:
        """An opened PIL image -> uint8 (H, W, 3) RGB (for a peer that opens the PNG itself)."""
        from PIL import Image

        rgb = image.convert("RGB")
        if rgb.size != self.size:
            rgb = rgb.resize(self.size, Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """uint8 (H, W, 3) images -> probabilities (N, classes), one ONNX Runtime call."""
        x = np.stack(images).astype(np.float32) * np.float32(1 / 255)
        x -= self.mean
        x /= self.std
        batch = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return np.asarray(self.session.run([self.output_name], {self.input_name: batch})[0], dtype=np.float32)
