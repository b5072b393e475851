"""The image-to-image networks of pytorch-CycleGAN-and-pix2pix (Isola et al. 2017, Zhu et al.
2017), layer for layer, for photos at 64-256 px: the U-Net generator (`unet_256` and its depth
at other sizes), the ResNet generator (`resnet_9blocks`, `resnet_6blocks`) and the n-layer
PatchGAN discriminator (`basic`: 70x70 receptive field). Their parameter counts round to the
ones the reference prints (tests/test_translation_nets.py): pix2pix's unet_256 54,413,955
(54.414 M) and its D 2,768,705 (2.769 M); CycleGAN's resnet_9blocks 11,378,179 (11.378 M) and
its D 2,764,737 (2.765 M).

The configs build them through `Pix2PixGenerator`, `CycleGANGenerator` and
`PatchDiscriminator`, which take the data's resolution: `arch="auto"` keeps the small 28-px
networks of the MNIST tasks (gan/nets/unet.py, gan/nets/patchgan.py) at 28 px and builds the
reference's from 64 px; `norm="auto"` is batch norm at 28 px and the reference's choice above
(batch for pix2pix, instance for CycleGAN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from gan.nets.patchgan import PatchGAN
from gan.nets.unet import UNet

NORMS = ("batch", "instance", "none")
UNET_ARCHS = ("unet_small", "unet_64", "unet_128", "unet_256")
RESNET_ARCHS = ("resnet_6blocks", "resnet_9blocks")
D_ARCHS = ("patch_small", "basic", "n_layers")
PHOTO_RESOLUTIONS = (64, 128, 256)


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """The reference's `get_norm_layer`: BatchNorm with affine weights and running statistics,
    InstanceNorm without either, or none."""
    if norm == "batch":
        return lambda channels: nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"norm={norm!r}: choose one of {NORMS}")


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's `init_weights(init_type="normal")`: conv weights ~ N(0, 0.02), biases 0,
    BatchNorm scales ~ N(1, 0.02)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module


class UNetSkipBlock(nn.Module):
    """One level of the U-Net: down (LeakyReLU, stride-2 conv, norm), the inner levels, up (ReLU,
    stride-2 transposed conv, norm), and the input concatenated to the result (the skip).
    The outermost level has no skip and ends in a Tanh; the innermost has no inner levels."""

    def __init__(
        self, outer: int, inner: int, norm: str, submodule: nn.Module | None = None,
        in_channels: int | None = None, outermost: bool = False, dropout: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.outermost = outermost
        make_norm = norm_layer(norm)
        bias = norm != "batch"  # BatchNorm has its own shift (the reference: instance norm only)
        down = nn.Conv2d(in_channels or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost: (B, inner, 1, 1) at the reference's depth
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(outer)]
        else:
            up = nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, make_norm(inner), submodule]
            layers += [nn.ReLU(True), up, make_norm(outer)] + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)  # (B, outer + outer, H, W)


class UNetGenerator(nn.Module):
    """The reference's `UnetGenerator`: (B, in_channels, R, R) -> (B, out_channels, R, R) in
    [-1, 1] through `num_downs` halvings (8 at 256 px, `unet_256`: down to 1x1), widths ngf,
    2ngf, 4ngf, then 8ngf, with dropout 0.5 in the 8ngf levels above the innermost (pix2pix's
    only noise; off in eval mode, as the reference's `test.py --eval`)."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
        norm: str = "batch", dropout: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the reference's U-Net needs at least 5")
        self.num_downs = num_downs
        block = UNetSkipBlock(8 * ngf, 8 * ngf, norm)  # innermost
        for _ in range(num_downs - 5):
            block = UNetSkipBlock(8 * ngf, 8 * ngf, norm, block, dropout=dropout)
        block = UNetSkipBlock(4 * ngf, 8 * ngf, norm, block)
        block = UNetSkipBlock(2 * ngf, 4 * ngf, norm, block)
        block = UNetSkipBlock(ngf, 2 * ngf, norm, block)
        self.model = UNetSkipBlock(out_channels, ngf, norm, block, in_channels, outermost=True)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2**self.num_downs or x.shape[-2] % 2**self.num_downs:
            raise ValueError(
                f"input {tuple(x.shape[-2:])}: this U-Net halves it {self.num_downs} times, so "
                f"height and width must be multiples of {2**self.num_downs}"
            )
        return self.model(x)


class ResNetBlock(nn.Module):
    """x + (reflect pad, 3x3 conv, norm, ReLU, [dropout], reflect pad, 3x3 conv, norm)(x)."""

    def __init__(self, channels: int, norm: str, dropout: bool = False) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), norm != "batch"
        layers = [
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels), nn.ReLU(True),
        ]  # fmt: skip
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResNetBlocksGenerator(nn.Module):
    """The reference's `ResnetGenerator` (Johnson et al.'s style-transfer network): a 7x7 conv,
    two stride-2 downsamplings (ngf -> 4ngf, R -> R/4), `n_blocks` residual blocks, two
    transposed-conv upsamplings and a 7x7 conv with Tanh. (B, in, R, R) -> (B, out, R, R)."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, n_blocks: int = 9, ngf: int = 64,
        norm: str = "instance", dropout: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        make_norm, bias = norm_layer(norm), norm != "batch"
        layers = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), make_norm(ngf),
            nn.ReLU(True),
        ]  # fmt: skip
        for mult in (1, 2):  # (B, ngf, R, R) -> (B, 4ngf, R/4, R/4)
            layers += [
                nn.Conv2d(ngf * mult, 2 * ngf * mult, 3, 2, 1, bias=bias),
                make_norm(2 * ngf * mult), nn.ReLU(True),
            ]  # fmt: skip
        layers += [ResNetBlock(4 * ngf, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):  # back to (B, ngf, R, R)
            half = ngf * mult // 2
            layers += [
                nn.ConvTranspose2d(ngf * mult, half, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(half), nn.ReLU(True),
            ]  # fmt: skip
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            size = tuple(x.shape[-2:])
            raise ValueError(f"input {size}: height and width must be multiples of 4")
        return self.model(x)


class NLayerPatchGAN(nn.Module):
    """The reference's `NLayerDiscriminator`: 4x4 convs, `n_layers` of them stride 2 (widths ndf,
    2ndf, 4ndf, ... up to 8ndf), one stride 1, then a 1-channel conv: raw scores (B, 1, h, w),
    each from a 70x70 window of the input at n_layers=3 (`basic`)."""

    def __init__(
        self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), norm != "batch"
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            wider = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, wider, 4, stride, 1, bias=bias), make_norm(wider),
                nn.LeakyReLU(0.2, True),
            ]  # fmt: skip
            width = wider
        layers += [nn.Conv2d(width, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _check_resolution(resolution: int, what: str) -> None:
    if resolution != 28 and resolution not in PHOTO_RESOLUTIONS:
        raise ValueError(
            f"resolution={resolution}: the {what} networks are built for 28 px (MNIST) and "
            f"{PHOTO_RESOLUTIONS} px"
        )


def _auto_norm(norm: str, resolution: int, reference: str) -> str:
    return ("batch" if resolution == 28 else reference) if norm == "auto" else norm


def pix2pix_generator(
    in_channels: int, out_channels: int, resolution: int, arch: str = "auto", ngf: int = 64,
    norm: str = "auto", dropout: bool = True, width: int = 32, residual: bool = False,
) -> nn.Module:  # fmt: skip
    """pix2pix's G. arch "auto": `unet_small` (the 28-px UNet of `width`, `residual`) at 28 px,
    `unet_<resolution>` (the reference's U-Net down to 1x1: 6, 7, 8 halvings) from 64 px.
    norm "auto": batch (the reference's pix2pix). `dropout`: the reference's (on)."""
    _check_resolution(resolution, "pix2pix")
    if arch == "auto":
        arch = "unet_small" if resolution == 28 else f"unet_{resolution}"
    if arch == "unet_small":
        return UNet(in_channels, out_channels, width, residual)
    if arch in UNET_ARCHS:
        num_downs = int(math.log2(int(arch.split("_")[1])))
        norm = _auto_norm(norm, resolution, "batch")
        return UNetGenerator(in_channels, out_channels, num_downs, ngf, norm, dropout)
    if arch in RESNET_ARCHS:
        n_blocks = int(arch.split("_")[1].removesuffix("blocks"))
        norm = _auto_norm(norm, resolution, "batch")
        return ResNetBlocksGenerator(in_channels, out_channels, n_blocks, ngf, norm, dropout)
    raise ValueError(f"generator arch={arch!r}: choose auto or one of {UNET_ARCHS + RESNET_ARCHS}")


def cyclegan_generator(
    channels: int, resolution: int, arch: str = "auto", ngf: int = 64, norm: str = "auto",
    dropout: bool = False, width: int = 32, residual: bool = True,
) -> nn.Module:  # fmt: skip
    """CycleGAN's G (channels -> channels). arch "auto": `unet_small` (residual) at 28 px,
    `resnet_9blocks` at 256 px and `resnet_6blocks` below (the reference's choice at 128 px).
    norm "auto": instance from 64 px. `dropout`: off, as the reference's CycleGAN."""
    _check_resolution(resolution, "CycleGAN")
    if arch == "auto":
        if resolution == 28:
            arch = "unet_small"
        else:
            arch = "resnet_9blocks" if resolution >= 256 else "resnet_6blocks"
    norm = _auto_norm(norm, resolution, "instance")
    if arch in RESNET_ARCHS:
        n_blocks = int(arch.split("_")[1].removesuffix("blocks"))
        return ResNetBlocksGenerator(channels, channels, n_blocks, ngf, norm, dropout)
    return pix2pix_generator(
        channels, channels, resolution, arch, ngf, norm, dropout, width, residual
    )


def patch_discriminator(
    in_channels: int, resolution: int, arch: str = "auto", ndf: int = 64, n_layers: int = 3,
    norm: str = "auto", reference_norm: str = "batch", width: int = 32,
) -> nn.Module:  # fmt: skip
    """The PatchGAN D. arch "auto": `patch_small` (gan/nets/patchgan.py, 22x22 windows) at 28 px,
    `basic` (the reference's 70x70, n_layers=3) from 64 px; `n_layers`: the reference's
    NLayerDiscriminator with `n_layers`. norm "auto": batch at 28 px, else `reference_norm`
    (batch for pix2pix, instance for CycleGAN)."""
    _check_resolution(resolution, "PatchGAN")
    if arch == "auto":
        arch = "patch_small" if resolution == 28 else "basic"
    norm = _auto_norm(norm, resolution, reference_norm)
    if arch == "patch_small":
        return PatchGAN(in_channels, width, norm)
    if arch in ("basic", "n_layers"):
        return NLayerPatchGAN(in_channels, ndf, 3 if arch == "basic" else n_layers, norm)
    raise ValueError(f"discriminator arch={arch!r}: choose auto or one of {D_ARCHS}")


class _Chosen(nn.Module):
    """A network chosen by name and resolution (the configs' targets: checkpoints build classes
    only). `net` is the network, `arch` the resolved choice."""

    net: nn.Module
    arch: str

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def size_multiple(self) -> int:
        """What the input's height and width must be multiples of."""
        if isinstance(self.net, UNetGenerator):
            return 2**self.net.num_downs
        return 4 if isinstance(self.net, UNet | ResNetBlocksGenerator) else 1


class Pix2PixGenerator(_Chosen):
    """`pix2pix_generator(...)` as a module (same arguments)."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, **kwargs) -> None:
        super().__init__()
        self.net = pix2pix_generator(in_channels, out_channels, resolution, **kwargs)
        self.arch = _arch_name(self.net)


class CycleGANGenerator(_Chosen):
    """`cyclegan_generator(...)` as a module (same arguments)."""

    def __init__(self, channels: int, resolution: int, **kwargs) -> None:
        super().__init__()
        self.net = cyclegan_generator(channels, resolution, **kwargs)
        self.arch = _arch_name(self.net)


class PatchDiscriminator(_Chosen):
    """`patch_discriminator(...)` as a module (same arguments)."""

    def __init__(self, in_channels: int, resolution: int, **kwargs) -> None:
        super().__init__()
        self.net = patch_discriminator(in_channels, resolution, **kwargs)
        self.arch = _arch_name(self.net)


def _arch_name(net: nn.Module) -> str:
    if isinstance(net, UNetGenerator):
        return f"unet_{2**net.num_downs}"
    if isinstance(net, ResNetBlocksGenerator):
        blocks = sum(isinstance(m, ResNetBlock) for m in net.modules())
        return f"resnet_{blocks}blocks"
    if isinstance(net, NLayerPatchGAN):
        return "n_layers"
    return "unet_small" if isinstance(net, UNet) else "patch_small"
