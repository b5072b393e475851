"""gan.augment.leak's baseline terms for two baseline seeds: the FID of each plain run's samples
against the test images as they are and through each ADA run's pipeline, with the tool's own
function and seeds, so that each leak's shift under the second baseline is
[FID - FID(augmented)] of the first minus that of the second. Only the baselines are scored.

    python docs/results/limited_data_cpu/leak_baselines.py <leak folder>

The folder holds baseline-1/, baseline-2/ and the ADA runs {b,g,c}-{p}-1/ (each with
checkpoints/last.ckpt), as docs/data_efficiency.md's "Leaking" trains them.
"""

import sys

import torch

from gan.augment.leak import _fids
from gan.checkpoints import read_checkpoint, rebuild_model
from gan.data import as_unit_range, default_data_dir
from gan.eval import rebuild_data
from gan.metrics.spaces import load_feature_space

root = sys.argv[1]
runs = [f"{g}-{p}-1" for p in ("0.5", "0.6", "0.7", "0.8") for g in "bgc"]
base = {s: f"{root}/baseline-{s}/checkpoints/last.ckpt" for s in (1, 2)}
ck = read_checkpoint(base[1])
data = rebuild_data(ck, base[1], str(default_data_dir()))
space = load_feature_space(data.feature_space)
real = as_unit_range(data.test_set.images[:5000])  # (5000, 1, 28, 28) in [-1, 1]
plains = {s: rebuild_model(read_checkpoint(p), p).eval() for s, p in base.items()}
print("| run | baseline 1: fid, fid_augmented | baseline 2: fid, fid_augmented | shift |")
print("|---|---|---|---|")
for run in runs:
    path = f"{root}/{run}/checkpoints/last.ckpt"
    pipe = rebuild_model(read_checkpoint(path), path).eval().augment
    torch.manual_seed(0)  # the augmentation's draws, as gan.augment.leak
    with torch.no_grad():
        augmented = pipe(real).clamp(-1, 1)
    labels = data.test_set.labels
    terms = {s: _fids(m, space, real, augmented, labels, 0) for s, m in plains.items()}
    shift = (terms[1][0] - terms[1][1]) - (terms[2][0] - terms[2][1])
    one, two = terms[1], terms[2]
    print(f"| {run} | {one[0]:.4g}, {one[1]:.4g} | {two[0]:.4g}, {two[1]:.4g} | {shift:.4g} |")
