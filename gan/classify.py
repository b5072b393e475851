"""Train the project's classifiers: `python -m gan.classify [--data mnist|fashion_mnist]
[--epochs N] [--seed 0]` (`data=fashion_mnist` works too).

Seeded and deterministic on the CPU (`--device cuda` trains on a GPU, not bit-for-bit
reproducible; the recorded accuracy is always measured on the CPU); writes
`gan/metrics/weights/<data>_classifier.pt` (and a JSON record of how it was made), prints the test
accuracy and the file's SHA-256. Trained on all 60k training images with random shifts of up to 2
pixels (and, for Fashion-MNIST, random horizontal flips: clothes are mirror-symmetric, digits are
not); evaluated on the official 10k test set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.datasets import MNIST, FashionMNIST

from gan.data import as_unit_range, default_data_dir, load_mnist
from gan.metrics.classifier import WEIGHTS_DIR, MNISTClassifier, predict, sha256_of

SPLIT_SEED = 1234  # the data modules' default split_seed
# What each classifier is trained on: the torchvision dataset, the default epochs, and flips.
DATASETS = {"mnist": (MNIST, 6, False), "fashion_mnist": (FashionMNIST, 20, True)}


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image (B, 1, 28, 28) by up to `max_shift` pixels in x and y, filling with -1."""
    padded = F.pad(images, [max_shift] * 4, value=-1.0)
    size = images.shape[-1]
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, len(images)), generator=generator)
    rows = (dy[:, None] + torch.arange(size))[:, None, :, None]  # (B, 1, 28, 1)
    cols = (dx[:, None] + torch.arange(size))[:, None, None, :]  # (B, 1, 1, 28)
    batch = torch.arange(len(images))[:, None, None, None]
    return padded[batch, 0, rows, cols]  # (B, 1, 28, 28)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def train_classifier(
    data: str,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    device: str = "cpu",
) -> tuple[MNISTClassifier, float]:
    """The trained classifier (on the CPU) and its test accuracy, measured on the CPU."""
    dataset, _, flips = DATASETS[data]
    torch.manual_seed(seed)
    train, test = (load_mnist(default_data_dir(), split, dataset) for split in (True, False))
    # In the order the data modules' split seed gives them (as the MNIST classifier was made).
    order = torch.randperm(len(train.data), generator=torch.Generator().manual_seed(SPLIT_SEED))
    images = as_unit_range(train.data[order])  # (60000, 1, 28, 28)
    labels = train.targets[order]
    model = MNISTClassifier().to(device)
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
            if flips:
                batch = random_flip(batch, generator)
            loss = F.cross_entropy(model(batch.to(device)), labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = test_accuracy(model.eval(), test)
        print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {accuracy:.4%}, "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    model = model.cpu().eval()
    return model, test_accuracy(model, test)


def test_accuracy(model: MNISTClassifier, test) -> float:
    """Accuracy on a torchvision MNIST-format test set."""
    predicted = predict(model, as_unit_range(test.data)).argmax(dim=1)
    return (predicted == test.targets).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="mnist")
    parser.add_argument("--epochs", type=int, help="default: 6 for mnist, 20 for fashion_mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (reproducible) or cuda")
    parser.add_argument(
        "--out", type=Path, help="default: gan/metrics/weights/<data>_classifier.pt"
    )
    argv = [f"--{a}" if a.startswith("data=") else a for a in (argv or sys.argv[1:])]
    args = parser.parse_args(argv)
    args.epochs = args.epochs or DATASETS[args.data][1]
    args.out = args.out or WEIGHTS_DIR / f"{args.data}_classifier.pt"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here (use cpu)")
    model, accuracy = train_classifier(args.data, args.epochs, args.seed, device=args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    digest = sha256_of(args.out)
    record = {
        "test_accuracy": accuracy,
        "sha256": digest,
        "data": args.data,
        "epochs": args.epochs,
        "seed": args.seed,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "command": f"python -m gan.classify --data {args.data} --epochs {args.epochs} "
        f"--seed {args.seed}" + (f" --device {args.device}" if args.device != "cpu" else ""),
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}: test accuracy {accuracy:.4%}, SHA-256 {digest}")


if __name__ == "__main__":
    main()
