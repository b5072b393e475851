"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN") as
StyleGAN2-ADA's code builds it (`model=stylegan2`), in plain PyTorch.

Generator: z (normalised) [and a class embedding] -> a mapping MLP (`mapping_layers`, lr
multiplier 0.01) -> w, broadcast to one w per layer (`num_ws`); a learned constant 4x4 input, then
a block per resolution of two modulated 3x3 convolutions (the first up-sampling by 2 through a
FIR filter), each adding per-pixel noise with a learned strength; the skip architecture: every
block's toRGB output is added to the up-sampled image so far. Style mixing (in training): the ws
from a cut-off layer on come from a second z. `truncation_psi` pulls w towards the tracked average
w (`w_avg`). Discriminator: fromRGB, then a residual block per resolution (two 3x3 convolutions,
the second down-sampling, and a down-sampling 1x1 shortcut, each branch scaled by sqrt(1/2);
`architecture=orig` drops the shortcut, as the `cifar` configuration does), and the epilogue at
4x4: the minibatch standard deviation (`gan.nets.batch_view.MinibatchStd`), a 3x3 convolution,
two fully connected layers; conditional: the projection of the output onto a mapped class
embedding.

Channels per resolution r: min(channel_base // r, channel_max), as in the reference, so one
config scales from a CPU-sized network to the paper's. At 28 px (the MNIST family) the networks
work at 32: G crops the centre 28x28 of its 32x32 image, D pads its 28x28 input to 32x32 with the
background value -1 (black, as MNIST's border).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan.nets.batch_view import MinibatchStd
from gan.nets.stylegan2_layers import (
    LRELU_GAIN,
    Conv2dLayer,
    FullyConnected,
    bias_act,
    fir_filter,
    modulated_conv2d,
    upsample2d,
)

RESOLUTIONS = (28, 32, 64, 128, 256)
NOISE_MODES = ("random", "const", "none")


def check_resolution(resolution: int) -> int:
    """The power of two the networks work at: `resolution`, or 32 for 28 (padded/cropped)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution={resolution}: StyleGAN2 is built for {RESOLUTIONS}")
    return 32 if resolution == 28 else resolution


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Channels at `resolution`: min(channel_base // resolution, channel_max), at least 1."""
    channels = min(channel_base // resolution, channel_max)
    if channels < 1:
        raise ValueError(
            f"channel_base={channel_base} gives no channels at {resolution} px: at least "
            f"{resolution} is needed"
        )
    return channels


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each row scaled to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (B, z_dim) [and one-hot classes (B, c_dim)] -> w (B, w_dim), or (B, num_ws, w_dim)
    broadcast; tracks the average w (`w_avg`, decay `w_avg_beta`) while training."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed = w_dim if c_dim else 0
        features = [z_dim + embed] + [w_dim] * num_layers
        if c_dim:
            self.embed = FullyConnected(c_dim, embed)
        for i in range(num_layers):
            layer = FullyConnected(features[i], features[i + 1], activation="lrelu",
                                   lr_multiplier=lr_multiplier)  # fmt: skip
            self.add_module(f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_w_avg: bool = True,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim:
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1)  # (B, z_dim + embed)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)  # (B, w_dim)
        if self.w_avg_beta is not None and self.training and update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # (B, num_ws, w_dim)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = x.clone()
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


def fuse_modulation(layer: nn.Module, x: torch.Tensor) -> bool:
    """StyleGAN2-ADA's choice of `modulated_conv2d(fused=...)`: one grouped convolution in eval,
    on a GPU; in training, and in eval on a CPU, where the grouped convolution ran G 1.5x slower
    (`stylegan2_small`, 500 samples), the shared convolution. The two agree to rounding."""
    return not layer.training and x.device.type != "cpu"


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (up-sampling by `up`), per-pixel noise times a learned strength,
    bias, leaky ReLU. `noise_mode`: random (fresh noise), const (the fixed `noise_const`), none."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.register_buffer("resample_filter", fir_filter(), persistent=False)
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                gain: float = 1.0) -> torch.Tensor:  # fmt: skip
        styles = self.affine(w)  # (B, in_channels)
        noise = None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                device=x.device) * self.noise_strength  # fmt: skip
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x, self.weight, styles, noise, up=self.up, padding=1,
            resample_filter=self.resample_filter, flip_weight=self.up == 1,
            fused=fuse_modulation(self, x),
        )  # fmt: skip
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), "lrelu", LRELU_GAIN * gain, clamp)


class ToRGBLayer(nn.Module):
    """A modulated 1x1 convolution to the image's channels, not demodulated, plus bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int,
                 conv_clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=False, fused=fuse_modulation(self, x)
        )
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [up-sampling conv0,] conv1, toRGB; the image so
    far is up-sampled through the FIR filter and the block's toRGB added to it."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, conv_clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", fir_filter(), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        conv_clamp=conv_clamp)  # fmt: skip
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp)  # fmt: skip
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        ws = ws.unbind(dim=1)  # num_conv + 1 of (B, w_dim)
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws[0].shape[0], 1, 1, 1)  # (B, C, 4, 4)
            x = self.conv1(x, ws[0], noise_mode)
        else:
            x = self.conv0(x, ws[0], noise_mode)  # (B, C, 2H, 2W)
            x = self.conv1(x, ws[1], noise_mode)
        y = self.torgb(x, ws[self.num_conv]).float()  # (B, img_channels, H, W)
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> image (B, img_channels, R, R): blocks b4, b8, ..., bR."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512,
                 conv_clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.w_dim = w_dim
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            out_channels = channels_at(res, channel_base, channel_max)
            block = SynthesisBlock(in_channels, out_channels, w_dim, res, img_channels, conv_clamp)
            self.num_ws += block.num_conv
            self.add_module(f"b{res}", block)
        self.num_ws += 1  # the last block's toRGB

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = img = None
        w_index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_index, block.num_conv + 1)  # its convs' and its toRGB's
            x, img = block(x, img, block_ws, noise_mode)
            w_index += block.num_conv
        return img


class StyleGAN2Generator(nn.Module):
    """z (B, latent_dim) [and labels (B,)] -> images (B, channels, resolution, resolution),
    unbounded (not squashed into [-1, 1]: trained against real images there).

    Args:
        latent_dim, w_dim: sizes of z and w (512 and 512 in the paper).
        resolution, channels: the image (28 works at 32, cropped).
        num_classes: a class-conditional generator (embedding into the mapping network); None:
            unconditional.
        mapping_layers: depth of the mapping MLP (8 in the paper, 2 in the `cifar` config).
        channel_base, channel_max: channels per resolution r: min(channel_base // r, channel_max).
        style_mixing_prob: in training, the share of batches whose ws from a random layer on come
            from a second z (0.9 in the paper; 0 in the `cifar` config).
        conv_clamp: clamp every convolution's output to +-conv_clamp (256 in StyleGAN2-ADA, which
            needs it for fp16); None: no clamp.
        noise_mode: the noise of samples drawn in eval mode: `const` (the fixed noise maps, as
            StyleGAN2-ADA's generate.py; it keeps samples reproducible and leaves the training
            RNGs alone), `random` or `none`. Training always draws random noise.
    """

    def __init__(
        self,
        latent_dim: int = 512,
        w_dim: int = 512,
        resolution: int = 32,
        channels: int = 3,
        num_classes: int | None = None,
        mapping_layers: int = 8,
        channel_base: int = 32768,
        channel_max: int = 512,
        style_mixing_prob: float = 0.9,
        conv_clamp: float | None = None,
        noise_mode: str = "const",
    ) -> None:
        super().__init__()
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={noise_mode!r}: one of {NOISE_MODES}")
        if not 0 <= style_mixing_prob <= 1:
            raise ValueError(f"style_mixing_prob={style_mixing_prob}: must be in [0, 1]")
        self.latent_dim, self.w_dim, self.resolution = latent_dim, w_dim, resolution
        self.num_classes = num_classes
        self.style_mixing_prob, self.noise_mode = style_mixing_prob, noise_mode
        self.synthesis = SynthesisNetwork(w_dim, check_resolution(resolution), channels,
                                          channel_base, channel_max, conv_clamp)  # fmt: skip
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(latent_dim, num_classes or 0, w_dim, self.num_ws,
                                      mapping_layers)  # fmt: skip

    def one_hot(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return F.one_hot(labels.long(), self.num_classes).float()  # (B, num_classes)

    def ws(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """The mapping's ws (B, num_ws, w_dim); in training, mixed with a second z's from a
        random layer on, for `style_mixing_prob` of the batches (one draw per batch)."""
        c = self.one_hot(labels)
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        if self.training and self.style_mixing_prob > 0:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            if float(torch.rand(())) < self.style_mixing_prob:
                other = self.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)
        return ws

    def image(self, ws: torch.Tensor) -> torch.Tensor:
        """Synthesis from ws, cropped to 28x28 where the network works at 32."""
        img = self.synthesis(ws, "random" if self.training else self.noise_mode)
        if self.resolution == 28:
            img = img[:, :, 2:30, 2:30]  # (B, C, 28, 28): the centre of 32x32
        return img

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        return self.image(self.ws(z, labels, truncation_psi, truncation_cutoff))


class DiscriminatorBlock(nn.Module):
    """[fromRGB,] conv0, conv1 (down-sampling); `resnet`: plus a down-sampling 1x1 shortcut,
    both branches scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int,
                 img_channels: int, architecture: str = "resnet",
                 conv_clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.architecture = architecture
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu",
                                       conv_clamp=conv_clamp)  # fmt: skip
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu",
                                 conv_clamp=conv_clamp)  # fmt: skip
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 conv_clamp=conv_clamp)  # fmt: skip
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if x is None:
            x = self.fromrgb(img)  # (B, tmp, R, R)
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))  # (B, out, R/2, R/2)
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """At 4x4: minibatch std, a 3x3 conv, a fully connected layer, the output layer (1 score,
    or cmap_dim features projected onto the class map)."""

    def __init__(self, in_channels: int, cmap_dim: int, mbstd_group_size: int = 4,
                 conv_clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStd(mbstd_group_size)
        self.conv = Conv2dLayer(in_channels + 1, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)  # fmt: skip
        self.fc = FullyConnected(in_channels * 16, in_channels, activation="lrelu")
        self.out = FullyConnected(in_channels, cmap_dim or 1)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(self.mbstd(x.float()))  # (B, C, 4, 4)
        x = self.out(self.fc(x.flatten(1)))  # (B, 1 or cmap_dim)
        if self.cmap_dim:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class StyleGAN2Discriminator(nn.Module):
    """Images (B, channels, R, R) [and labels (B,)] -> one logit per image (B,).

    Args:
        resolution, channels: the images (28 is padded to 32 with -1).
        num_classes: conditional (a mapping network of the classes, projected onto the output),
            None: unconditional.
        architecture: `resnet` (StyleGAN2's) or `orig` (no shortcuts: the `cifar` config's).
        channel_base, channel_max: channels per resolution, as the generator's.
        mbstd_group_size: the minibatch standard deviation's group size (4; 32 for `cifar`).
        mapping_layers: depth of the class mapping network (8, StyleGAN2-ADA's).
        conv_clamp: as the generator's.
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        num_classes: int | None = None,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mapping_layers: int = 8,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if architecture not in ("resnet", "orig"):
            raise ValueError(f"architecture={architecture!r}: resnet or orig")
        self.resolution, self.num_classes = resolution, num_classes
        working = check_resolution(resolution)
        self.block_resolutions = [2**i for i in range(int(math.log2(working)), 2, -1)]
        cmap_dim = channels_at(4, channel_base, channel_max) if num_classes else 0
        for res in self.block_resolutions:
            tmp = channels_at(res, channel_base, channel_max)
            block = DiscriminatorBlock(tmp if res < working else 0, tmp,
                                       channels_at(res // 2, channel_base, channel_max),
                                       channels, architecture, conv_clamp)  # fmt: skip
            self.add_module(f"b{res}", block)
        if num_classes:
            self.mapping = MappingNetwork(0, num_classes, cmap_dim, None, mapping_layers,
                                          w_avg_beta=None)  # fmt: skip
        self.b4 = DiscriminatorEpilogue(channels_at(4, channel_base, channel_max), cmap_dim,
                                        mbstd_group_size, conv_clamp)  # fmt: skip

    def forward(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.resolution == 28:
            img = F.pad(img, (2, 2, 2, 2), value=-1.0)  # (B, C, 32, 32), black border
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        cmap = None
        if self.num_classes:
            cmap = self.mapping(None, F.one_hot(labels.long(), self.num_classes).float())
        return self.b4(x, cmap).flatten()  # (B,)
