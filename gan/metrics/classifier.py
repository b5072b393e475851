"""Small classifiers trained by this project (`python -m gan.classify`) for MNIST and for
Fashion-MNIST, whose committed weights are checked against their SHA-256 on load. A softmax tells
which class an image shows; the 128-d penultimate features are the embedding for the data set's
own metrics (FID-MNIST, FID-Fashion, ...)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "mnist_classifier.pt"
# Printed by `python -m gan.classify`; a retrained file must update it.
WEIGHTS_SHA256 = "a438ff507f9d0346eae989683d229b0dba304621bf195fd8c8f7966597a391a2"
FASHION_WEIGHTS_PATH = WEIGHTS_DIR / "fashion_mnist_classifier.pt"
FASHION_WEIGHTS_SHA256 = "32d675d71c2e2ac5fa9091ed22f740b88dcb3e3f2919630fdfb7899d502990c2"
# The classifiers by the feature space they define: (weights, SHA-256, how to retrain them).
CLASSIFIERS = {
    "mnist": (WEIGHTS_PATH, WEIGHTS_SHA256, "python -m gan.classify"),
    "fashion": (
        FASHION_WEIGHTS_PATH,
        FASHION_WEIGHTS_SHA256,
        "python -m gan.classify data=fashion_mnist",
    ),
}


class WeightsError(RuntimeError):
    """The classifier's weights are missing or are not the file this code was checked with."""


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class MNISTClassifier(nn.Module):
    """Images (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); `features` gives (B, 128). The same
    network, trained on Fashion-MNIST, is that data set's classifier."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 32), *_block(32, 32), nn.MaxPool2d(2),  # -> (B, 32, 14, 14)
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),  # -> (B, 64, 7, 7)
            *_block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # -> (B, 128)
        )  # fmt: skip
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # (B, 10)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_classifier(
    path: Path = WEIGHTS_PATH,
    sha256: str | None = WEIGHTS_SHA256,
    device: str | torch.device = "cpu",
    retrain: str = "python -m gan.classify",
) -> MNISTClassifier:
    """The trained classifier in eval mode. Refuses a file whose SHA-256 differs from `sha256`
    (None skips the check, for a freshly trained file)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no classifier weights at {path}: train them with `{retrain}`")
    if sha256 is not None and (actual := sha256_of(path)) != sha256:
        raise WeightsError(
            f"{path} has SHA-256 {actual}, expected {sha256}: the weights were changed or damaged "
            f"(restore them from git, or retrain with `{retrain}` and update CLASSIFIERS in "
            "gan/metrics/classifier.py)"
        )
    # Built without touching the training RNGs: a run that builds it after a resume must draw the
    # same dropout masks and penalty weights as the run that never stopped.
    with torch.random.fork_rng(devices=[]):
        model = MNISTClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # Channels-last: oneDNN's preferred layout, 1.4x faster on the CPU; features agree to 1e-5.
    return model.to(device, memory_format=torch.channels_last).eval()


def load_named_classifier(space: str, device: str | torch.device = "cpu") -> MNISTClassifier:
    """The classifier behind the feature space `space` ("mnist" or "fashion")."""
    path, sha256, retrain = CLASSIFIERS[space]
    return load_classifier(path, sha256, device, retrain)


@dataclass
class Embedding:
    """What a feature extractor makes of a set of images."""

    features: torch.Tensor | None  # (N, D): a classifier's penultimate activations, Inception's
    probabilities: torch.Tensor | None = None  # (N, K) softmax, for a classifier
    modes: torch.Tensor | None = None  # (N,) the mode of each image, where modes are defined


@torch.no_grad()
def embed(classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 1000) -> Embedding:
    """Images (N, 1, 28, 28) in [-1, 1] -> features and class probabilities, on the CPU."""
    device = next(classifier.parameters()).device
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device, torch.float32)  # (B, 1, 28, 28)
        batch = batch.contiguous(memory_format=torch.channels_last)
        batch_features = classifier.features(batch)
        features.append(batch_features.cpu())
        probabilities.append(classifier.head(batch_features).softmax(dim=1).cpu())
    return Embedding(torch.cat(features), torch.cat(probabilities))


def predict(
    classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 1000
) -> torch.Tensor:
    """Class probabilities (N, 10) for images (N, 1, 28, 28) in [-1, 1], in batches."""
    return embed(classifier, images, batch_size).probabilities
