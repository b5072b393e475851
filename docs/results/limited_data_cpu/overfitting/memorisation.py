"""Does G copy its 500 training images? For each run's last checkpoint: 2,000 samples of its
sampling (EMA) generator, embedded in Fashion-MNIST's feature space; each sample's distance to its
nearest of the 500 training images and to its nearest of 500 validation images (never trained
on). copy ratio = mean NN distance to training / mean NN distance to held-out: about 1 for a
generator of the data set (2,000 other validation images score it as a reference), well below 1
for one that reproduces its training images. Also the share of samples nearer to a training
image than 95% of real held-out images are (the 5th percentile of their NN distance to the
training images): 0.05 for real images, above it for a generator that copies.

    python docs/results/limited_data_cpu/overfitting/memorisation.py <run>/checkpoints/last.ckpt ...
"""

import sys
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan.checkpoints import read_checkpoint, rebuild_model
from gan.data.tensors import as_unit_range
from gan.metrics.evaluate import generate_images
from gan.metrics.spaces import load_feature_space

space = load_feature_space("fashion")


def features(images):
    return space.embed(images).features.double()


def nn(a, b):
    return torch.cdist(a, b).min(dim=1).values


reference = None
print("| samples of | copy ratio | share nearer than 95% of real ones |\n|---|---|---|")
for ckpt in sys.argv[1:]:
    checkpoint = read_checkpoint(ckpt)
    cfg = OmegaConf.create(checkpoint["config"])
    if reference is None:
        data = instantiate(cfg.data)
        data.setup("fit")
        train = features(as_unit_range(data.train_set.images))  # (500, F)
        val_images = as_unit_range(data.val_set.images)
        heldout = features(val_images[:500])
        other = features(val_images[500:2500])
        base_train, base_val = nn(other, train), nn(other, heldout)
        threshold = base_train.quantile(0.05)
        reference = (base_train.mean() / base_val.mean()).item()
        share = (base_train < threshold).float().mean()
        print(f"| real held-out images (reference) | {reference:.3f} | {share:.3f} |")
    model = rebuild_model(checkpoint, ckpt).eval()
    samples = features(generate_images(model, 2000, seed=0))
    d_train, d_val = nn(samples, train), nn(samples, heldout)
    ratio = (d_train.mean() / d_val.mean()).item()
    close = (d_train < threshold).float().mean().item()
    run = f"{Path(ckpt).parent.parent.name} (epoch {checkpoint['epoch'] + 1})"
    print(f"| {run} | {ratio:.3f} | {close:.3f} |")
