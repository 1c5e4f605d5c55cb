"""The network: a ResNet for 32x32 images (He et al. 2016, section 4.2), in plain PyTorch.

Depth follows SageMaker's `num_layers` for small images: 6n + 2 layers (20, 32, 44, 56, 110),
three stages of n basic blocks each at widths w, 2w, 4w, then global average pooling (the
embedding) and one linear layer (the logits). `Exported` wraps a trained net into what the
artifact holds: normalised input in, softmax probabilities and the embedding out, with the
horizontal-flip test-time average and the temperature fitted on validation baked into the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scones.model.hyperparameters import SMALL_IMAGE_DEPTHS, valid_depth


@dataclass(frozen=True)
class NetConfig:
    num_layers: int = 20  # 6n + 2
    width: int = 16  # channels of the first stage; stages are width, 2*width, 4*width
    num_classes: int = 2
    in_channels: int = 3

    @property
    def blocks_per_stage(self) -> int:
        return (self.num_layers - 2) // 6

    @property
    def embedding_dim(self) -> int:
        return 4 * self.width


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


class ResNet(nn.Module):
    """(N, 3, 32, 32) normalised images -> logits (N, num_classes); `embed` gives (N, 4*width)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        if not valid_depth(config.num_layers):
            raise ValueError(f"num_layers must be 6n+2 (e.g. {SMALL_IMAGE_DEPTHS}), got {config.num_layers}")
        self.config = config
        w, n = config.width, config.blocks_per_stage
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
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
        features: torch.Tensor = self.stages(self.stem(x))
        return features.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(x))
        return logits


class Exported(nn.Module):
    """What goes into ONNX: input -> (probabilities, embedding).

    Logits are averaged over the image and its mirror (test-time augmentation), divided by the
    calibration temperature, then softmaxed; the embedding is the mirror-averaged one too.
    """

    def __init__(self, net: ResNet, temperature: float = 1.0, flip: bool = True) -> None:
        super().__init__()
        self.net = net
        self.flip = flip
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.net.embed(x)
        if self.flip:
            embedding = (embedding + self.net.embed(torch.flip(x, dims=[3]))) / 2
        # The head is linear, so the head of the mean embedding is the mean of both logits.
        logits = self.net.head(embedding) / self.temperature
        return torch.softmax(logits, dim=1), embedding


def build(config: NetConfig, seed: int) -> ResNet:
    """A freshly initialised net; the same seed gives the same weights."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    net = ResNet(config)
    torch.random.set_rng_state(generator_state)
    return net
