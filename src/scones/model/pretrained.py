"""Transfer learning from local weights: `-p use_pretrained_model=1 -p pretrained_weights=PATH|s3://...`.

The weights are a scones `model.tar.gz` (its `weights.pt`) or a PyTorch state dict saved with
`torch.save`, read from a path or the store; nothing is downloaded from a model hub. They are
loaded with `torch.load(weights_only=True)` (no pickled code runs). Every tensor of the new
net except its head must be found with the same name and shape (same architecture, depth, width
and input-size band, since larger images fold into more input channels); the head is the new
net's own, sized for the new classes.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from scones.errors import SconesError, TrainingError
from scones.storage import Store

_GZIP = b"\x1f\x8b"


def read_weights(store: Store, location: str) -> dict[str, torch.Tensor]:
    """The state dict at `location`: a scones model.tar.gz or a torch.save'd state dict."""
    from scones.model import artifact

    try:
        if location.startswith("s3://"):
            from scones.storage import read_uri

            data = read_uri(store, location)
        else:
            data = Path(location).expanduser().read_bytes()
    except (SconesError, OSError) as exc:
        raise TrainingError(f"No pretrained weights at {location} ({exc}); check pretrained_weights") from exc
    if data.startswith(_GZIP):
        art = artifact.unpack(data, location)
        if art.weights is None:
            raise TrainingError(
                f"{location} holds no weights.pt (made before scones stored them); retrain that model, or pass a "
                "PyTorch state dict as pretrained_weights"
            )
        data = art.weights
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors of several kinds here
        raise TrainingError(
            f"{location} is not a PyTorch state dict ({type(exc).__name__}); pass a scones model.tar.gz or a file "
            "written by torch.save(net.state_dict())"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrainingError(f"{location} is not a state dict of tensors; save it with torch.save(net.state_dict())")
    return {str(k): v for k, v in state.items()}


def is_head(name: str) -> bool:
    """The classifier layer(s): replaced, never loaded (an ensemble has one head per member)."""
    return name.startswith("head.") or ".head." in name


def load_backbone(net: torch.nn.Module, state: dict[str, torch.Tensor], location: str) -> int:
    """Copy every non-head tensor of `state` into `net`; TrainingError when the backbones differ. Returns the count."""
    own = net.state_dict()
    backbone = [k for k in own if not is_head(k)]
    misfits = [k for k in backbone if k not in state or state[k].shape != own[k].shape]
    if misfits:
        raise TrainingError(
            f"{location} does not fit this network: {len(misfits)} of {len(backbone)} backbone tensors are missing "
            f"or of another shape (first: {misfits[0]}); use the architecture, num_layers and width it was trained "
            "with, and an image_shape in its size band (32-63 px, 64-127 px, 128-255 px, ...)"
        )
    net.load_state_dict({**own, **{k: state[k] for k in backbone}})
    return len(backbone)
