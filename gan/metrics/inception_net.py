"""The TF-FID Inception-v3 as an eager PyTorch module, rebuilt from the TorchScript file's weights.

The TorchScript file (`gan.metrics.inception`) runs every convolution, batch norm and ReLU as
separate passes over the activations, in NCHW. Here each batch norm is folded into its
convolution (the scale into the weights, the shift into a bias), the network runs channels-last
(oneDNN's preferred layout on the CPU), and nothing else changes: the same weights, the same
pools, the same order of branches. Features agree with the TorchScript's to about 1e-6 of their
largest value (`tests/test_inception.py`).

The structure is read from the TorchScript modules themselves (their kinds, kernel sizes, strides,
paddings), so only the wiring of the five Inception block kinds is written here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BATCH_NORM_EPS = 1e-3  # the TorchScript's F.batch_norm(..., eps=0.001)
FEATURES = 2048


class ConvReLU(nn.Module):
    """conv -> batch norm (no learnt scale, as in the TF graph) -> ReLU, the norm folded in."""

    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        weight = scripted.weight.detach().double()  # (C_out, C_in, kh, kw)
        scale = (scripted.var.detach().double() + BATCH_NORM_EPS).rsqrt()  # (C_out,)
        out_channels, in_channels, *kernel = weight.shape
        self.conv = nn.Conv2d(
            in_channels, out_channels, tuple(kernel), scripted.stride, scripted.padding
        )
        with torch.no_grad():
            self.conv.weight.copy_(weight * scale[:, None, None, None])
            self.conv.bias.copy_(scripted.beta.detach().double() - scripted.mean.double() * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


class Branches(nn.Module):
    """Inception blocks A-D: the branches side by side, concatenated along channels."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class InceptionE(nn.Module):
    """The last two blocks: two of the branches split into a 1x3 and a 3x1 convolution each."""

    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        for name, child in scripted.named_children():
            self.add_module(name, eager(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        branches = [
            self.conv(x),
            self.tower_mixed_conv(a),
            self.tower_mixed_conv_1(a),
            self.tower_1_mixed_conv(b),
            self.tower_1_mixed_conv_1(b),
            self.tower_2_conv(self.tower_2_pool(x)),
        ]
        return torch.cat(branches, dim=1)


def eager(scripted: nn.Module) -> nn.Module:
    """The eager counterpart of one module of the TorchScript Inception."""
    kind = scripted.original_name
    children = [eager(child) for child in scripted.children()]
    if kind == "Conv2dLayer":
        return ConvReLU(scripted)
    if kind == "MaxPool2d":
        return nn.MaxPool2d(scripted.kernel_size, scripted.stride, scripted.padding)
    if kind == "AvgPool2d":
        return nn.AvgPool2d(
            scripted.kernel_size, scripted.stride, scripted.padding,
            count_include_pad=scripted.count_include_pad,
        )  # fmt: skip
    if kind == "Sequential":
        return nn.Sequential(*children)
    if kind in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return Branches(children)
    if kind == "InceptionE":
        return InceptionE(scripted)
    raise ValueError(f"unexpected module kind {kind!r} in the TorchScript Inception")


class EagerInception(nn.Module):
    """Images (B, 3, 299, 299) in the network's input range -> pool features (B, 2048)."""

    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        self.layers = eager(scripted.net.layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != 3:
            raise ValueError(f"Inception takes 3-channel images, got shape {tuple(images.shape)}")
        return self.layers(images).reshape(-1, FEATURES)


def eager_inception(scripted: nn.Module) -> EagerInception:
    """The eager, channels-last network with the TorchScript network's weights, for inference."""
    with torch.random.fork_rng(devices=[]):  # nn.Conv2d's initialisation: leave the RNGs alone
        network = EagerInception(scripted)
    return network.to(memory_format=torch.channels_last).eval().requires_grad_(False)
