"""The layers StyleGAN2 (Karras et al. 2020) is built from, in plain PyTorch (no custom CUDA ops):
equalised-learning-rate fully connected and convolution layers, FIR filtering for up- and
down-sampling, and the modulated convolution with weight demodulation.

The layers follow StyleGAN2-ADA's `training/networks.py` and `torch_utils/ops` in what they compute
and in their parameter names (so its weights load by name; `tests/test_stylegan2.py` compares
outputs with its reference code): weights are drawn from N(0, 1) and scaled at run time by
1 / sqrt(fan_in) (times an lr multiplier), so Adam's per-parameter steps are the same for every
layer ("equalised learning rate"); activations are leaky ReLU(0.2) times sqrt(2), keeping unit
variance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2)  # keeps unit variance through leaky ReLU(0.2)
FIR_TAPS = (1, 3, 3, 1)  # the binomial low-pass filter of up- and down-sampling


def fir_filter(taps: tuple[int, ...] = FIR_TAPS) -> torch.Tensor:
    """The 2-D filter (K, K) of separable `taps`, normalised to sum 1."""
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """x + bias (over dim 1), then leaky ReLU(0.2) ("lrelu") or nothing ("linear"), times `gain`
    (default sqrt(2) for lrelu, 1 for linear), clamped to +-clamp."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2)
        gain = LRELU_GAIN if gain is None else gain
    elif activation != "linear":
        raise ValueError(f"activation={activation!r}: lrelu or linear")
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by inserting up - 1 zeros after each pixel, pad (negative: crop) by (x0, x1, y0,
    y1), convolve every channel with the 2-D FIR filter `f` times `gain`, keep every down-th
    pixel. (B, C, H, W) -> (B, C, H', W')."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)  # convolution, not correlation
    kernel = kernel[None, None].repeat(channels, 1, 1, 1)  # (C, 1, K, K)
    x = F.conv2d(x, kernel, groups=channels)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, up H, up W), filtered by `f` (the skip generator's image path)."""
    k = f.shape[0]
    padding = ((k + up - 1) // 2, (k - up) // 2) * 2
    return upfirdn2d(x, f, up=up, padding=(padding[0], padding[1], padding[0], padding[1]),
                     gain=up * up)  # fmt: skip


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Convolution by `w` (O, I / groups, kh, kw) with up- or down-sampling by 2, the FIR filter
    `f` smoothing the resampled activations; `padding` is with respect to the up-sampled image.
    Up-sampling runs as a transposed strided convolution, down-sampling as a filter then a
    strided convolution (1x1: a filtered decimation then the convolution)."""
    out_channels, in_per_group, kh, kw = w.shape
    k = f.shape[0] if f is not None else 1
    p0 = p1 = padding
    if up > 1:
        p0, p1 = p0 + (k + up - 1) // 2, p1 + (k - up) // 2
    if down > 1:
        p0, p1 = p0 + (k - down + 1) // 2, p1 + (k - down) // 2
    if not flip_weight:
        w = w.flip([2, 3])
    if kw == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))
        return F.conv2d(x, w, groups=groups)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
        return F.conv2d(x, w, stride=down, groups=groups)
    if up > 1:  # transposed convolution: weights (groups * I, O / groups, kh, kw), flipped back
        w = w.flip([2, 3])
        w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        p0, p1 = p0 - (kw - 1), p1 - (kw - up)
        trim = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, w, stride=up, padding=trim, groups=groups)
        pad = (p0 + trim, p1 + trim, p0 + trim, p1 + trim)
        return upfirdn2d(x, f, padding=pad, gain=up * up)
    return F.conv2d(x, w, padding=p0, groups=groups)


class FullyConnected(nn.Module):
    """y = x (W * lr_multiplier / sqrt(in))^T + b * lr_multiplier, then the activation. W is
    drawn from N(0, 1 / lr_multiplier^2): the mapping network's lr multiplier of 0.01 slows its
    effective learning rate a hundredfold."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in) -> (B, out)
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, self.activation)

    def extra_repr(self) -> str:
        out, inp = self.weight.shape
        return f"{inp} -> {out}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """An equalised-learning-rate convolution (weights N(0, 1) times 1 / sqrt(fan_in)) with
    optional FIR up- or down-sampling by 2, bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", fir_filter(), persistent=False)
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = LRELU_GAIN if activation == "lrelu" else 1.0
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, self.up, self.down, self.padding,
                            flip_weight=self.up == 1)  # fmt: skip
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, bias, self.activation, self.act_gain * gain, clamp)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused: bool = True,
) -> torch.Tensor:
    """StyleGAN2's convolution: each sample's weights scaled by its styles over input channels
    (modulation), then each output channel rescaled to unit norm (demodulation: the expected
    output variance is that of the input, which replaces StyleGAN's instance normalisation).
    x (B, I, H, W), weight (O, I, k, k), styles (B, I) -> (B, O, H', W'), plus `noise`.

    `fused`: one grouped convolution with per-sample weights (StyleGAN2-ADA's choice in eval);
    else the same computed as activations times styles, one convolution shared by the batch,
    times the demodulation coefficients (its choice in training: a grouped convolution over
    the batch is far slower, most of all to differentiate)."""
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)  # (B, O, I, k, k)
    coefficients = None
    if demodulate:
        coefficients = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (B, O)
    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, in_channels, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding,
                            flip_weight=flip_weight)  # fmt: skip
        if coefficients is not None:
            x = x * coefficients.to(x.dtype).reshape(batch, out_channels, 1, 1)
        return x if noise is None else x + noise.to(x.dtype)
    if coefficients is not None:
        w = w * coefficients.reshape(batch, out_channels, 1, 1, 1)
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    w = w.reshape(batch * out_channels, in_channels, kh, kw).to(x.dtype)
    x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=batch,
                        flip_weight=flip_weight)  # fmt: skip
    x = x.reshape(batch, out_channels, *x.shape[2:])
    return x if noise is None else x + noise.to(x.dtype)
