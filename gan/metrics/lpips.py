"""LPIPS (Zhang et al. 2018), the learned perceptual distance, where its weights are on this
machine: torchmetrics ships the learned linear layers, but the backbone (AlexNet, VGG-16 or
SqueezeNet's ImageNet weights from torchvision) is a download, which this project never starts at
run time. `load_lpips` builds it from torch's hub cache, or refuses in one line saying which file
is missing and where it belongs."""

from __future__ import annotations

from pathlib import Path

import torch

BACKBONES = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}


class LPIPSUnavailable(RuntimeError):
    """The backbone's weights are not in torch's hub cache."""


def backbone_file(net: str) -> Path:
    """Where torchvision keeps the backbone's ImageNet weights once downloaded."""
    import torchvision.models

    if net not in BACKBONES:
        raise ValueError(f"lpips net={net!r}: choose one of {tuple(BACKBONES)}")
    url = getattr(torchvision.models, BACKBONES[net]).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def load_lpips(net: str = "alex", device: str | torch.device = "cpu"):
    """torchmetrics' LPIPS on images in [-1, 1], from cached weights only."""
    path = backbone_file(net)
    if not path.is_file():
        raise LPIPSUnavailable(
            f"lpips: LPIPS-{net} needs torchvision's ImageNet weights at {path}, which are not "
            "there and are not downloaded at run time; copy the file there (or set TORCH_HOME) "
            "to score LPIPS"
        )
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=False).to(device).eval()


@torch.no_grad()
def lpips_distance(metric, output: torch.Tensor, target: torch.Tensor, batch: int = 50) -> float:
    """Mean LPIPS between outputs and targets (N, C, H, W) in [-1, 1] (grey repeated to RGB)."""
    device = next(metric.parameters()).device
    total = 0.0
    for start in range(0, len(output), batch):
        x, y = (t[start : start + batch].to(device).expand(-1, 3, -1, -1) for t in (output, target))
        metric.reset()
        total += float(metric(x.clamp(-1, 1), y.clamp(-1, 1))) * len(x)
    return total / len(output)
