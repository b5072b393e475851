"""The committed MNIST and Fashion-MNIST classifiers: their hashes, their accuracy, and the
augmentation they trained with."""

import json

import pytest
import torch

from gan.classify import random_shift
from gan.data import FashionMNISTDataModule, MNISTDataModule, as_unit_range
from gan.metrics.classifier import (
    FASHION_WEIGHTS_PATH,
    FASHION_WEIGHTS_SHA256,
    WEIGHTS_PATH,
    WEIGHTS_SHA256,
    WeightsError,
    load_classifier,
    load_named_classifier,
    predict,
    sha256_of,
)


def test_committed_weights_match_their_hash():
    assert sha256_of(WEIGHTS_PATH) == WEIGHTS_SHA256


@pytest.mark.slow
def test_classifier_reaches_99_3_percent_on_the_test_set():
    data = MNISTDataModule()
    data.setup()
    images = as_unit_range(data.test_set.images)  # (10000, 1, 28, 28)
    predicted = predict(load_classifier(), images).argmax(dim=1)
    accuracy = (predicted == data.test_set.labels).float().mean().item()
    assert accuracy >= 0.993


def test_changed_or_missing_weights_are_refused(tmp_path):
    damaged = tmp_path / "w.pt"
    data = bytearray(WEIGHTS_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    damaged.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=f"expected {WEIGHTS_SHA256}"):
        load_classifier(damaged)
    with pytest.raises(WeightsError, match=r"python -m gan\.classify"):
        load_classifier(tmp_path / "missing.pt")


def test_random_shift_moves_each_image_by_at_most_two_pixels():
    images = torch.full((50, 1, 28, 28), -1.0)
    images[:, 0, 13, 14] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    positions = (shifted[:, 0] == 1).nonzero()[:, 1:]  # one lit pixel per image
    assert len(positions) == 50
    offsets = positions - torch.tensor([13, 14])
    assert offsets.abs().max() <= 2 and len({tuple(o) for o in offsets.tolist()}) > 5


def test_committed_fashion_weights_match_their_hash_and_record():
    record = json.loads(FASHION_WEIGHTS_PATH.with_suffix(".json").read_text())
    assert sha256_of(FASHION_WEIGHTS_PATH) == FASHION_WEIGHTS_SHA256 == record["sha256"]
    assert record["data"] == "fashion_mnist"


@pytest.mark.slow
def test_fashion_classifier_gives_its_recorded_test_accuracy():
    """The accuracy in the committed record (93.13%) is what the committed weights give
    on the CPU (they were trained on a GPU)."""
    data = FashionMNISTDataModule()
    data.setup()
    images = as_unit_range(data.test_set.images)  # (10000, 1, 28, 28)
    predicted = predict(load_named_classifier("fashion"), images).argmax(dim=1)
    accuracy = (predicted == data.test_set.labels).float().mean().item()
    record = json.loads(FASHION_WEIGHTS_PATH.with_suffix(".json").read_text())
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-4)
    assert accuracy >= 0.93
