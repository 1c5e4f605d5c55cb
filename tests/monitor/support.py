"""What the monitor tests share: the dev images, the shifts applied to them, a model, and a
capture writer that follows reference section 4 exactly (as scones' endpoint and SageMaker do)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from scones.monitor.features import OnnxModel
from tests.helpers import tiny_artifact

_SAMPLE_DATA = Path(__import__("matplotlib").get_data_path()) / "sample_data"
T0 = datetime(2026, 3, 12, 14, 0, 0, tzinfo=UTC)


def dev_images(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The seed's 1000 bike/moto PNGs as uint8 (N, 32, 32, 3) RGB and their labels, in .lst order."""
    rows = [line.split("\t") for line in (folder / "train.lst").read_text().splitlines() if line.strip()]
    images = np.stack([np.asarray(Image.open(folder / "train" / r[2]).convert("RGB")) for r in rows])
    return images, np.asarray([int(r[1]) for r in rows], dtype=np.int64)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _each(images: np.ndarray, change: object) -> np.ndarray:
    return np.stack([np.asarray(change(Image.fromarray(a)).convert("RGB")) for a in images])  # type: ignore[operator]


def other_objects(count: int, seed: int = 0) -> np.ndarray:
    """Random 32x32 crops of matplotlib's sample photo (a portrait): real photos, not vehicles."""
    rng = np.random.default_rng(seed)
    photo = np.asarray(Image.open(_SAMPLE_DATA / "grace_hopper.jpg").convert("RGB"))
    crops = []
    for _ in range(count):
        side = int(rng.integers(40, 200))
        y = int(rng.integers(0, photo.shape[0] - side))
        x = int(rng.integers(0, photo.shape[1] - side))
        crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((32, 32), Image.Resampling.BILINEAR)
        crops.append(np.asarray(crop))
    return np.stack(crops)


def shift(images: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """The shifts the issue names, applied to dev images."""
    rng = np.random.default_rng(seed)
    if kind == "darker":
        return (images * 0.6).astype(np.uint8)
    if kind == "blurred":
        return _each(images, lambda im: im.filter(ImageFilter.GaussianBlur(1)))
    if kind == "noisy":
        return np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype(np.uint8)
    if kind == "grayscale":
        return _each(images, lambda im: im.convert("L"))
    if kind == "rotated":
        return np.ascontiguousarray(np.rot90(images, 2, axes=(1, 2)))
    if kind == "other_objects":
        return other_objects(len(images), seed)
    raise ValueError(kind)


def tiny_model() -> OnnxModel:
    return OnnxModel(tiny_artifact())


def record(
    body: bytes,
    probabilities: Sequence[float] | None,
    when: datetime,
    inference_id: str | None = None,
    content_type: str = "image/png",
) -> dict[str, object]:
    """One captured line, exactly as reference section 4 shows it."""
    capture: dict[str, object] = {
        "endpointInput": {
            "observedContentType": content_type,
            "mode": "INPUT",
            "data": base64.b64encode(body).decode("ascii"),
            "encoding": "BASE64",
        }
    }
    if probabilities is not None:
        capture["endpointOutput"] = {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": json.dumps([round(float(p), 6) for p in probabilities]),
            "encoding": "JSON",
        }
    metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}


def records_for(
    images: np.ndarray, model: OnnxModel, start: datetime = T0, step: timedelta = timedelta(seconds=7)
) -> list[dict[str, object]]:
    """Captured records for `images` answered by `model`, one every `step` from `start`."""
    probabilities, _ = model.predict(images)
    return [
        record(png(image), p, start + i * step, inference_id=f"req-{i}")
        for i, (image, p) in enumerate(zip(images, probabilities, strict=True))
    ]


def write_capture(
    root: Path, records: Iterable[dict[str, object]], endpoint: str = "ep", layout: str = "hourly", per_file: int = 50
) -> list[Path]:
    """Write records as .jsonl files: `hourly` in SageMaker's key layout, `flat` all in one folder."""
    written: list[Path] = []
    batch: list[dict[str, object]] = []

    def flush() -> None:
        if not batch:
            return
        when = datetime.fromisoformat(str(batch[0]["eventMetadata"]["inferenceTime"]).replace("Z", "+00:00"))  # type: ignore[index]
        name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        folder = root / endpoint / "AllTraffic" / f"{when:%Y/%m/%d/%H}" if layout == "hourly" else root
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text("".join(json.dumps(r) + "\n" for r in batch))
        written.append(path)
        batch.clear()

    hour = None
    for item in records:
        current = str(item["eventMetadata"]["inferenceTime"])[:13]  # type: ignore[index]
        if batch and (len(batch) >= per_file or current != hour):
            flush()
        hour = current
        batch.append(item)
    flush()
    return written
