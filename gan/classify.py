"""Train the project's MNIST classifier: `python -m gan.classify [--epochs 6] [--seed 0]`.

Seeded and deterministic on the CPU; writes `gan/metrics/weights/mnist_classifier.pt` (and a JSON
record of how it was made), prints the test accuracy and the file's SHA-256. Trained on all 60k
training images with random shifts of up to 2 pixels; evaluated on the official 10k test set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan.data import MNISTDataModule, as_unit_range
from gan.metrics.classifier import WEIGHTS_PATH, MNISTClassifier, predict, sha256_of


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image (B, 1, 28, 28) by up to `max_shift` pixels in x and y, filling with -1."""
    padded = F.pad(images, [max_shift] * 4, value=-1.0)
    size = images.shape[-1]
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, len(images)), generator=generator)
    rows = (dy[:, None] + torch.arange(size))[:, None, :, None]  # (B, 1, 28, 1)
    cols = (dx[:, None] + torch.arange(size))[:, None, None, :]  # (B, 1, 1, 28)
    batch = torch.arange(len(images))[:, None, None, None]
    return padded[batch, 0, rows, cols]  # (B, 1, 28, 28)


def train_classifier(epochs: int, seed: int, batch_size: int = 128, lr: float = 2e-3) -> tuple:
    torch.manual_seed(seed)
    data = MNISTDataModule(val_size=0)
    data.prepare_data()
    data.setup()
    images = as_unit_range(data.train_set.images)  # (60000, 1, 28, 28)
    labels = data.train_set.labels
    model = MNISTClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        start = time.perf_counter()
        for i in range(len(images) // batch_size):
            index = order[i * batch_size : (i + 1) * batch_size]
            batch = random_shift(images[index], 2, generator)
            loss = F.cross_entropy(model(batch), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = test_accuracy(model.eval(), data)
        print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {accuracy:.4%}, "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return model, accuracy


def test_accuracy(model: MNISTClassifier, data: MNISTDataModule) -> float:
    images = as_unit_range(data.test_set.images)
    predicted = predict(model, images).argmax(dim=1)
    return (predicted == data.test_set.labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    model, accuracy = train_classifier(args.epochs, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    digest = sha256_of(args.out)
    record = {
        "test_accuracy": accuracy,
        "sha256": digest,
        "epochs": args.epochs,
        "seed": args.seed,
        "torch": torch.__version__,
        "command": f"python -m gan.classify --epochs {args.epochs} --seed {args.seed}",
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}: test accuracy {accuracy:.4%}, SHA-256 {digest}")


if __name__ == "__main__":
    main()
