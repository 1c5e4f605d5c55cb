"""The networks, in plain PyTorch: a ResNet and a whitened conv net, shaped for 32x32 images.

`architecture="resnet"` (He et al. 2016, section 4.2): depth follows SageMaker's `num_layers`
for small images, 6n + 2 layers (20, 32, 44, 56, 110), three stages of n basic blocks each at
widths w, 2w, 4w, then global average pooling (the embedding) and one linear layer (the logits).

`architecture="airbench"`: the shape of Keller Jordan's fast CIFAR-10 nets, written here from
their description: a frozen 2x2 convolution that whitens image patches (its filters are the
eigenvectors of the training images' patch covariance), then three groups of (conv, max-pool,
BatchNorm, GELU, conv, BatchNorm, GELU) at widths w, 4w, 4w, global max pooling (the
embedding) and a scaled linear layer. Far more sample-efficient per epoch than the ResNet.

Larger images (`downsample` > 1): the input is first folded space-to-depth, each f x f block of
pixels becoming 3*f*f channels at 1/f the side (a lossless rearrangement, as a learned stride-f
stem would see it), so the net runs at 32-63 px whatever the photo's size: training at 64x64
took 1.2x the CPU of 32x32 (docs/benchmarks.md), not ~4x. `downsample_for` picks f from image_shape; at 32x32 f is 1 and
the net is unchanged.

`Exported` wraps a trained net into what the artifact holds: normalised input in, softmax
probabilities and the embedding out, with the test-time average (mirror image, optionally
1-pixel shifts) and the temperature fitted on validation baked into the graph.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from scones.model.hyperparameters import SMALL_IMAGE_DEPTHS, valid_depth


@dataclass(frozen=True)
class NetConfig:
    num_layers: int = 20  # 6n + 2 (the ResNet only)
    width: int = 16  # channels of the first stage; then 2x, 4x (ResNet) or 4x, 4x (airbench)
    num_classes: int = 2
    in_channels: int = 3
    architecture: Literal["resnet", "airbench"] = "resnet"
    members: int = 1  # > 1: an ensemble of that many nets, trained side by side, logits averaged
    downsample: int = 1  # f: the input is folded space-to-depth, f x f pixels to 3*f*f channels (see above)

    @property
    def blocks_per_stage(self) -> int:
        return (self.num_layers - 2) // 6

    @property
    def embedding_dim(self) -> int:
        return 4 * self.width * self.members

    @property
    def stem_channels(self) -> int:
        """The channels the first layer sees: the image's, times f*f once folded."""
        return self.in_channels * self.downsample**2


def downsample_for(height: int, width: int) -> int:
    """The space-to-depth factor for an image_shape: the largest power of 2 leaving both sides >= 32."""
    factor = 1
    while min(height, width) // (2 * factor) >= 32:
        factor *= 2
    return factor


def fold(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*f*f, ceil(H/f), ceil(W/f)); sides that f does not divide are edge-padded first."""
    if factor == 1:
        return x
    pad_h, pad_w = -x.shape[2] % factor, -x.shape[3] % factor
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return F.pixel_unshuffle(x, factor)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual; a 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Net(nn.Module, abc.ABC):
    """(N, 3, H, W) normalised images -> logits (N, num_classes); `embed` gives (N, 4*width)."""

    config: NetConfig
    head: nn.Module

    @abc.abstractmethod
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, embedding_dim) features before the head."""

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits from the embedding (linear: the logits of a mean embedding are the mean logits)."""
        logits: torch.Tensor = self.head(embedding)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each ensemble member's logits (each is trained on its own loss); a single net is one member."""
        return [self(x)]

    def prepare(self, x_train: torch.Tensor) -> None:
        """Data-dependent initialisation from the (normalised) training images; none by default."""


class ResNet(Net):
    """(N, 3, 32, 32) normalised images -> logits (N, num_classes); `embed` gives (N, 4*width)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        if not valid_depth(config.num_layers):
            raise ValueError(f"num_layers must be 6n+2 (e.g. {SMALL_IMAGE_DEPTHS}), got {config.num_layers}")
        self.config = config
        w, n = config.width, config.blocks_per_stage
        self.stem = nn.Sequential(nn.Conv2d(config.stem_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        stages: list[nn.Module] = []
        c_in = w
        for i, c_out in enumerate((w, 2 * w, 4 * w)):
            blocks = [BasicBlock(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(4 * w, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)  # each block starts as the identity: trains faster and steadier

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: globally pooled features of the last stage, (N, 4*width)."""
        features: torch.Tensor = self.stages(self.stem(fold(x, self.config.downsample)))
        return features.mean(dim=(2, 3))


def _batchnorm(channels: int) -> nn.BatchNorm2d:
    # No learned scale: the next layer is scale-invariant anyway; only the shift trains.
    bn = nn.BatchNorm2d(channels)
    bn.weight.requires_grad_(False)
    return bn


class ConvGroup(nn.Module):
    """conv, 2x2 max-pool, BN, GELU, conv, BN, GELU: halves the resolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn1 = _batchnorm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = _batchnorm(c_out)
        for conv in (self.conv1, self.conv2):
            # Partly the identity at start (the first c_in filters pass their channel through).
            w = conv.weight.data
            nn.init.dirac_(w[: min(w.size(0), w.size(1))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.bn2(self.conv2(x)))


class ScaledLinear(nn.Linear):
    """A linear layer whose output is scaled down: small initial logits with BN-normalised features."""

    def __init__(self, c_in: int, c_out: int, scale: float) -> None:
        super().__init__(c_in, c_out, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class AirNet(Net):
    """Patch-whitening stem + three conv groups (w, 4w, 4w) + global max pool; `embed` is (N, 4*width)."""

    WHITEN_EPS = 5e-4
    # The patch directions kept: all 12 of a 2x2x3 patch at 32 px. A folded image's patches have
    # more (48 at 64 px), and keeping only the 12 of most variance keeps the rest of the net, and
    # its cost, as at 32 px: a 64x64 photo then costs ~1.2x a 32x32 image, not ~2x.
    WHITEN_DIRECTIONS = 12

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        w, c = config.width, config.stem_channels
        directions = min(c * 2 * 2, self.WHITEN_DIRECTIONS)
        self.whiten = nn.Conv2d(c, 2 * directions, 2, 1, 0, bias=True)
        self.whiten.weight.requires_grad_(False)  # set by `prepare`, never trained
        self.groups = nn.Sequential(ConvGroup(2 * directions, w), ConvGroup(w, 4 * w), ConvGroup(4 * w, 4 * w))
        self.head = ScaledLinear(4 * w, config.num_classes, scale=1 / 9)

    def prepare(self, x_train: torch.Tensor) -> None:
        """Whitening filters: eigenvectors of the 2x2 patch covariance over eigenvalue square roots, +/-.

        Only the directions of most variance when the patch has more than WHITEN_DIRECTIONS.
        """
        covariance = self.patch_covariance(fold(x_train, self.config.downsample))
        c = self.config.stem_channels
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending: the last are the largest
        kept = self.whiten.out_channels // 2
        eigenvalues, eigenvectors = eigenvalues[-kept:], eigenvectors[:, -kept:]
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + self.WHITEN_EPS)[:, None]).float()
        filters = filters.view(-1, c, 2, 2)
        with torch.no_grad():
            self.whiten.weight.copy_(torch.cat([filters, -filters]))

    @staticmethod
    def patch_covariance(x: torch.Tensor, budget: int = 1 << 28) -> torch.Tensor:
        """The (uncentred) covariance of every 2x2 patch of `x`, summed a chunk of images at a time.

        The patches of all training images at once would take N x H x W x 4C doubles (16 GB for
        40,000 images at 64 px); a chunk's patches stay under `budget` bytes.
        """
        n, c, h, w = x.shape
        dim = 4 * c
        per_image = (h - 1) * (w - 1) * dim * 8
        total = torch.zeros(dim, dim, dtype=torch.float64)
        for chunk in torch.split(x, max(1, budget // per_image)):
            patches = chunk.unfold(2, 2, 1).unfold(3, 2, 1)  # (n, C, H-1, W-1, 2, 2)
            patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, dim).double()
            total += patches.T @ patches
        return total / (n * (h - 1) * (w - 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        # The whitening filters span a wide range of scales (over the square roots of small
        # eigenvalues): under bfloat16 autocast the stem stays float32; the conv groups need not.
        with torch.autocast(x.device.type, enabled=False):
            stem = F.gelu(self.whiten(fold(x.float(), self.config.downsample)))
        features: torch.Tensor = self.groups(stem)
        return features.amax(dim=(2, 3))


class Ensemble(Net):
    """`members` nets of one architecture: embeddings concatenated, logits averaged (one ONNX graph).

    Members differ only by their initial weights; each is trained on its own loss, so they stay
    independent, and the average of their logits is steadier than any one of them.
    """

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        single = dataclasses.replace(config, members=1)
        self.members = nn.ModuleList([_single(single) for _ in range(config.members)])
        self.head = nn.Identity()  # unused: `classify` applies each member's own head

    @property
    def nets(self) -> list[Net]:
        return [m for m in self.members if isinstance(m, Net)]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.embed(x) for m in self.nets], dim=1)

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(embedding, self.config.embedding_dim // self.config.members, dim=1)
        logits = [m.classify(c) for m, c in zip(self.nets, chunks, strict=True)]
        return torch.stack(logits).mean(dim=0)

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [m(x) for m in self.nets]

    def prepare(self, x_train: torch.Tensor) -> None:
        for m in self.nets:
            m.prepare(x_train)


def _single(config: NetConfig) -> Net:
    return AirNet(config) if config.architecture == "airbench" else ResNet(config)


def views(x: torch.Tensor, flip: bool = True, shift: bool = False) -> list[tuple[torch.Tensor, float]]:
    """Test-time views with their weights (summing to 1): the image, its mirror, 1-pixel shifts.

    With `shift`, half the weight goes to the image (and mirror) moved one pixel down-right and
    one pixel up-left (reflect padding), as in airbench's test-time augmentation.
    """
    base = [x, torch.flip(x, dims=[3])] if flip else [x]
    if not shift:
        return [(v, 1 / len(base)) for v in base]
    h, w = x.shape[2], x.shape[3]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    moved = [padded[:, :, :h, :w], padded[:, :, 2 : h + 2, 2 : w + 2]]
    shifted = [v for m in moved for v in ([m, torch.flip(m, dims=[3])] if flip else [m])]
    return [(v, 0.5 / len(base)) for v in base] + [(v, 0.5 / len(shifted)) for v in shifted]


def tta_embed(net: Net, x: torch.Tensor, flip: bool = True, shift: bool = False) -> torch.Tensor:
    """The embedding averaged over the test-time views (the head is linear: logits average too)."""
    parts = views(x, flip, shift)
    embedding = parts[0][1] * net.embed(parts[0][0])
    for view, weight in parts[1:]:
        embedding = embedding + weight * net.embed(view)
    return embedding


class Exported(nn.Module):
    """What goes into ONNX: input -> (probabilities, embedding).

    Logits are averaged over the test-time views (the image and its mirror; optionally 1-pixel
    shifts), divided by the calibration temperature, then softmaxed; the embedding is the
    view-averaged one too.
    """

    temperature: torch.Tensor

    def __init__(self, net: Net, temperature: float = 1.0, flip: bool = True, shift: bool = False) -> None:
        super().__init__()
        self.net = net
        self.flip = flip
        self.shift = shift
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = tta_embed(self.net, x, self.flip, self.shift)
        # The head is linear, so the head of the mean embedding is the mean of the views' logits.
        logits = self.net.classify(embedding) / self.temperature
        return torch.softmax(logits, dim=1), embedding


def build(config: NetConfig, seed: int) -> Net:
    """A freshly initialised net; the same seed gives the same weights."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    net = Ensemble(config) if config.members > 1 else _single(config)
    torch.random.set_rng_state(generator_state)
    return net
