"""The Inception resize conventions, each held to an independent implementation of its formula:
TF1's legacy bilinear to TensorFlow's own output (a committed witness) and to a NumPy loop,
pytorch-fid's to a NumPy loop with half-pixel centres, clean-fid's to a NumPy copy of PIL's
bicubic filter, clipped."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.metrics import inception
from gan.metrics.resize import RESIZES, check_resize, clean_fid, pytorch_fid, resize, tf1_bilinear
from tests.data.make_tf1_resize_witness import CASES, case_image, case_positions

WITNESS = Path(__file__).parent / "data" / "tf1_resize_witness.npz"


def _bilinear_loop(image: np.ndarray, size: int, half_pixel: bool) -> np.ndarray:
    """(H, W) -> (size, size), pixel by pixel: the source position of output i is i * (in / out)
    in float32 (TF1's legacy rule, as its kernel computes it) or (i + 0.5) * in / out - 0.5,
    floored at 0 (half-pixel centres, torch's align_corners=False); the upper neighbour is
    clamped at the last pixel."""
    height, width = image.shape

    def source(i: int, n_in: int) -> tuple[int, int, float]:
        if half_pixel:
            s = max((i + 0.5) * n_in / size - 0.5, 0.0)
        else:
            s = float(np.float32(i) * np.float32(n_in / size))
        low = math.floor(s)
        return low, min(low + 1, n_in - 1), s - low

    out = np.empty((size, size))
    for i in range(size):
        top, bottom, dy = source(i, height)
        for j in range(size):
            left, right, dx = source(j, width)
            upper = image[top, left] * (1 - dx) + image[top, right] * dx
            lower = image[bottom, left] * (1 - dx) + image[bottom, right] * dx
            out[i, j] = upper * (1 - dy) + lower * dy
    return out


def _pil_bicubic_loop(image: np.ndarray, size: int) -> np.ndarray:
    """PIL's BICUBIC resampling (a = -0.5, support 2, stretched by the scale when shrinking,
    weights normalised to sum 1), rows then columns, in float64."""

    def kernel(x: float) -> float:
        x, a = abs(x), -0.5
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        if x < 2:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    def matrix(n_in: int) -> np.ndarray:
        scale = n_in / size
        stretch = max(scale, 1.0)
        weights = np.zeros((size, n_in))
        for i in range(size):
            centre = (i + 0.5) * scale
            first = max(int(centre - 2 * stretch + 0.5), 0)
            last = min(int(centre + 2 * stretch + 0.5), n_in)
            taps = [kernel((j - centre + 0.5) / stretch) for j in range(first, last)]
            weights[i, first:last] = np.array(taps) / sum(taps)
        return weights

    return matrix(image.shape[0]) @ image @ matrix(image.shape[1]).T


def _digit() -> torch.Tensor:
    """A 28x28 stroke with sharp edges, as MNIST digits have: (1, 1, 28, 28) in [0, 255]."""
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 5:23, 12:16] = 255
    digit[..., 5:9, 8:20] = 255
    return digit


@pytest.mark.parametrize("name", sorted(CASES))
def test_tf1_bilinear_is_tensorflows_own_legacy_resize(name):
    """TensorFlow's `tf.compat.v1.image.resize_bilinear` output (tests/data, from
    make_tf1_resize_witness.py), at the last row and column and 1,000 other positions."""
    witness = np.load(WITNESS)[name]
    image = torch.from_numpy(case_image(name)).permute(2, 0, 1)[None].float()  # (1, C, H, W)
    ours = tf1_bilinear(image)[0].permute(1, 2, 0).numpy()  # (299, 299, C)
    rows, cols, channels = case_positions(name, image.shape[1]).T
    np.testing.assert_allclose(ours[rows, cols, channels], witness, atol=2e-4, rtol=0)


@pytest.mark.parametrize("shape", [(28, 28), (32, 32), (64, 64), (13, 40), (299, 299), (310, 300)])
def test_tf1_bilinear_follows_the_legacy_formula(shape):
    image = np.random.default_rng(0).uniform(0, 255, shape)
    ours = tf1_bilinear(torch.from_numpy(image)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, _bilinear_loop(image, 299, half_pixel=False), atol=1e-9)


@pytest.mark.parametrize("shape", [(28, 28), (64, 64), (13, 40)])
def test_pytorch_fid_resize_has_half_pixel_centres(shape):
    image = np.random.default_rng(1).uniform(0, 255, shape)
    ours = pytorch_fid(torch.from_numpy(image)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, _bilinear_loop(image, 299, half_pixel=True), atol=1e-9)


def test_the_two_bilinear_conventions_differ_on_a_digit():
    """Half a source pixel apart: on a 28-px stroke most output pixels differ."""
    legacy, half_pixel = tf1_bilinear(_digit()), pytorch_fid(_digit())
    assert (legacy - half_pixel).abs().max() > 100
    assert torch.equal(
        tf1_bilinear(torch.full((1, 1, 299, 299), 7.0)), torch.full((1, 1, 299, 299), 7.0)
    )


@pytest.mark.parametrize("shape", [(28, 28), (32, 32), (64, 48)])
def test_clean_fid_resize_is_pils_bicubic_in_float_clipped(shape):
    image = np.random.default_rng(2).uniform(0, 255, shape).astype(np.float32)
    image[4:10, 4:10] = 0  # sharp edges, where bicubic overshoots
    image[12:20, 12:20] = 255
    reference = _pil_bicubic_loop(image.astype(np.float64), 299)
    assert reference.min() < 0 and reference.max() > 255  # so the clip is exercised
    ours = clean_fid(torch.from_numpy(image)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, reference.clip(0, 255), atol=2e-3)


def test_clean_fid_resize_keeps_mnist_strokes_in_range():
    """Unclipped, PIL's float bicubic takes a digit's pixels to about -34 and 291."""
    plane = _digit()[0, 0].numpy()
    unclipped = np.asarray(Image.fromarray(plane, mode="F").resize((299, 299), Image.BICUBIC))
    assert unclipped.min() < -20 and unclipped.max() > 275
    resized = clean_fid(_digit())
    assert resized.min() == 0 and resized.max() == 255
    assert resized.dtype == torch.float32  # no rounding after the resize, as clean-fid
    assert not torch.equal(resized, resized.round())


def test_conventions_are_chosen_by_name_and_old_names_are_refused():
    for how in RESIZES:
        assert resize(_digit(), how).shape == (1, 1, 299, 299)
    with pytest.raises(ValueError, match=r"'bilinear' is now 'pytorch_fid'; the default is tf1"):
        check_resize("bilinear")
    with pytest.raises(ValueError, match=r"'pil_bicubic' is now 'clean_fid'"):
        check_resize("pil_bicubic")
    with pytest.raises(ValueError, match=r"inception_resize='nearest' is invalid: choose one of"):
        resize(_digit(), "nearest")


class _Records(torch.nn.Module):
    """Stands in for Inception: keeps what it is fed, returns its mean per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return x.mean(dim=(2, 3)) * self.scale


@pytest.mark.parametrize("how", [None, *RESIZES])
def test_the_extractor_feeds_inception_images_resized_by_the_chosen_convention(how):
    """The default is TF1's legacy bilinear; each convention reaches the network, after 8-bit
    rounding, grey repeated to RGB, in the TF-FID input range x / 128 - 1."""
    network = _Records()
    extractor = inception.InceptionFeatures(network, "test", "", "", (-1.0, 255 / 128 - 1))
    if how:
        extractor.resize = how
    images = _digit() / 127.5 - 1 + 0.001  # [-1, 1], just off the 8-bit grid
    extractor(images)
    pixels = (network.seen[-1] + 1) * 128  # (1, 3, 299, 299), back to [0, 255]
    expected = resize(_digit(), how or "tf1_bilinear").expand(-1, 3, -1, -1)
    torch.testing.assert_close(pixels, expected, atol=1e-3, rtol=0)
    assert extractor.variant == (how or "tf1_bilinear")
