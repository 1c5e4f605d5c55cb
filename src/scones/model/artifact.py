"""The model artifact: `model.tar.gz` holding `model.onnx` and `manifest.json` (+ `weights.pt`).

The artifact describes itself: class names, the input shape and normalisation, the ONNX
input/output names (probabilities, and the penultimate-layer embedding the monitor uses),
the training job, its metrics and data checksum, library versions and the sha256 of the
ONNX bytes. Serving reads only this, never PyTorch. The same two files, unpacked, are what
SageMaker puts in /opt/ml/model. Models trained since issue #19 also carry `weights.pt`, the
net's PyTorch state dict, so a later job can fine-tune from them; nothing in serving reads it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scones.errors import ArtifactError

FORMAT = "scones-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL = "model.onnx"
WEIGHTS = "weights.pt"  # the kept net's PyTorch state dict: what transfer learning starts from (optional)
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # refuse absurd members before reading them

# CIFAR-100 channel statistics: the normalisation every scones model is trained with.
CIFAR_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR_STD = (0.2673, 0.2564, 0.2762)


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor (N, C, H, W) float32."""

    image_shape: tuple[int, int, int] = (3, 32, 32)  # C, H, W as SageMaker's image_shape
    mean: tuple[float, float, float] = CIFAR_MEAN  # per channel, on pixels scaled to [0, 1]
    std: tuple[float, float, float] = CIFAR_STD
    resize: str = "bilinear"  # PIL filter used when the image is not H x W
    # How an image of another size or shape is fitted: "crop" scales it to cover H x W and crops the
    # centre (SageMaker's resize, and how training reads staged images); "stretch" resizes straight
    # to H x W (artifacts made before any image size could be trained say nothing, and mean this).
    fit: str = "stretch"


@dataclass(frozen=True)
class Manifest:
    """Everything serving and monitoring need to know about a model."""

    classes: list[str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    input_name: str = "input"
    output_name: str = "probabilities"  # softmax, shape (N, len(classes))
    embedding_name: str | None = "embedding"  # penultimate layer, shape (N, embedding_dim)
    embedding_dim: int | None = None
    training_job: str | None = None
    data_checksum: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    model_sha256: str = ""
    created: str = ""

    def to_json(self) -> str:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            body = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{MANIFEST} is not valid JSON ({exc}); the artifact is corrupt") from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ArtifactError(
                f"Not a scones model: {MANIFEST} lacks format '{FORMAT}'; train one with 'scones train'"
            )
        if body.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"Model format version {body.get('format_version')} is not {FORMAT_VERSION}; "
                "re-export it with this version of scones"
            )
        body.pop("format")
        body.pop("format_version")
        try:
            fields: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in body.pop("preprocessing", {}).items()
            }
            manifest = cls(preprocessing=Preprocessing(**fields), **body)
        except TypeError as exc:
            raise ArtifactError(f"{MANIFEST} has unexpected fields ({exc}); the artifact is corrupt") from exc
        if not manifest.classes or not all(isinstance(c, str) for c in manifest.classes):
            raise ArtifactError(f"{MANIFEST} lists no class names; the artifact is corrupt")
        return manifest


@dataclass(frozen=True)
class Artifact:
    """A manifest and the ONNX model it describes."""

    manifest: Manifest
    onnx: bytes
    weights: bytes | None = None  # torch.save of the net's state dict; serving never reads it

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes

    def pack(self) -> bytes:
        """The `model.tar.gz` bytes (deterministic for the same content)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            members = [(MANIFEST, self.manifest.to_json().encode()), (MODEL, self.onnx)]
            for name, data in members + ([(WEIGHTS, self.weights)] if self.weights is not None else []):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def write_dir(self, path: Path) -> None:
        """Unpack into a folder, as SageMaker does into /opt/ml/model."""
        path.mkdir(parents=True, exist_ok=True)
        (path / MANIFEST).write_text(self.manifest.to_json())
        (path / MODEL).write_bytes(self.onnx)
        if self.weights is not None:
            (path / WEIGHTS).write_bytes(self.weights)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unpack(data: bytes, source: str = "model.tar.gz") -> Artifact:
    """Read and validate `model.tar.gz` bytes; ArtifactError names what is wrong."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for info in tar:
                name = info.name.lstrip("./") if info.name.startswith("./") else info.name
                if info.isdir() and name in ("", "."):
                    continue
                if name not in (MANIFEST, MODEL, WEIGHTS) or not info.isfile():
                    continue  # foreign members are ignored, never extracted
                if info.size > MAX_MEMBER_BYTES:
                    raise ArtifactError(f"{source}: member {name} is {info.size} bytes, too large for a model")
                handle = tar.extractfile(info)
                if handle is None:
                    raise ArtifactError(f"{source}: member {name} cannot be read")
                members[name] = handle.read()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        # mode "r:*" lists every compression it tried, one per line; the CLI error is one line
        reason = "not a tar archive" if "\n" in str(exc) else str(exc)
        raise ArtifactError(
            f"{source} is not a readable model.tar.gz ({reason}); re-run training or copy it again"
        ) from exc
    return _from_members(members, source)


def load_dir(path: Path) -> Artifact:
    """Read an unpacked artifact folder (e.g. /opt/ml/model)."""
    members = {n: (path / n).read_bytes() for n in (MANIFEST, MODEL, WEIGHTS) if (path / n).is_file()}
    return _from_members(members, str(path))


def _from_members(members: dict[str, bytes], source: str) -> Artifact:
    missing = [n for n in (MANIFEST, MODEL) if n not in members]
    if missing:
        raise ArtifactError(
            f"{source} has no {' or '.join(missing)}: not a scones model; train one with 'scones train'"
        )
    manifest = Manifest.from_json(members[MANIFEST])
    if manifest.model_sha256 and manifest.model_sha256 != sha256(members[MODEL]):
        raise ArtifactError(f"{source}: {MODEL} does not match the sha256 in {MANIFEST}; the artifact is corrupt")
    return Artifact(manifest=manifest, onnx=members[MODEL], weights=members.get(WEIGHTS))


def load(location: str, store: Any | None = None) -> Artifact:
    """Load an artifact from `s3://bucket/key`, a local model.tar.gz, or an unpacked folder."""
    if location.startswith("s3://"):
        if store is None:
            raise ArtifactError("Loading an s3:// artifact needs a Store; pass store=Store(settings)")
        from scones.storage import read_uri

        return unpack(read_uri(store, location), location)
    path = Path(location).expanduser()
    if path.is_dir():
        return load_dir(path)
    if not path.is_file():
        raise ArtifactError(
            f"No model at {location}; give a model.tar.gz, its folder, an s3:// URI or a training job name"
        )
    return unpack(path.read_bytes(), location)
