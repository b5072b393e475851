"""D's over-fitting (gan.overfitting): ADA's r_v on scores checked by hand, a memorising D told
from a generalising one, and a measurement that leaves training exactly as it was."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan.data.tensors import ImageTensorDataset
from gan.history import run_history
from gan.losses import NonSaturatingLoss
from gan.module import GAN
from gan.nets import DCGANGenerator
from gan.nets.batch_view import MinibatchStd
from gan.overfitting import DiscriminatorOverfitting, overfitting_ratio, untouched
from gan.train import train


def test_r_v_is_where_held_out_scores_lie_between_training_and_generated_ones():
    assert overfitting_ratio(train=3.0, heldout=3.0, generated=-1.0) == 0.0
    assert overfitting_ratio(train=3.0, heldout=-1.0, generated=-1.0) == 1.0
    assert overfitting_ratio(train=2.0, heldout=1.5, generated=0.0) == 0.25
    assert math.isnan(overfitting_ratio(train=0.5, heldout=0.2, generated=0.5))


class Memorising(nn.Module):
    """+1 for an image of `known` (to the pixel), -1 for any other."""

    def __init__(self, known: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("known", known.flatten(1))  # (N, C*H*W)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        distance = torch.cdist(
            images.flatten(1), self.known, compute_mode="donot_use_mm_for_euclid_dist"
        )
        distance = distance.min(dim=1).values  # (B,)
        return torch.where(distance < 1e-4, 1.0, -1.0)


class Bright(nn.Module):
    """+1 for an image brighter than mid-grey on average, -1 otherwise: it generalises."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.where(images.mean(dim=(1, 2, 3)) > 0.3, 1.0, -1.0)


def _gan_with(discriminator: nn.Module) -> GAN:
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    generator = DCGANGenerator(latent_dim=8, width=4)  # Tanh outputs near 0: dark-grey images
    return GAN(generator, discriminator, NonSaturatingLoss(), adam, adam, latent_dim=8)


def _bright_images(n: int, seed: int) -> ImageTensorDataset:
    rng = torch.Generator().manual_seed(seed)
    images = torch.randint(200, 256, (n, 1, 28, 28), generator=rng, dtype=torch.uint8)
    return ImageTensorDataset(images, torch.randint(0, 10, (n,), generator=rng))


@pytest.mark.parametrize("kind", ["memorising", "generalising"])
def test_a_memorising_d_scores_held_out_images_as_generated_and_a_generalising_one_does_not(kind):
    data = SimpleNamespace(train_set=_bright_images(64, seed=1), val_set=_bright_images(64, 2))
    known = data.train_set.images.float() / 127.5 - 1
    model = _gan_with(Memorising(known) if kind == "memorising" else Bright())
    scores = DiscriminatorOverfitting(num_images=50).scores(model, data, batch_size=16)
    assert scores["d_train"] == 1.0 and scores["d_generated"] == -1.0
    expected = {"memorising": (-1.0, 1.0), "generalising": (1.0, 0.0)}[kind]
    assert (scores["d_heldout"], scores["d_overfit"]) == expected


def test_scores_come_in_whole_batches_for_a_minibatch_standard_deviation():
    """30 images at batch 24 would leave a batch of 6, which groups of 4 cannot cut: 24 it is."""
    data = SimpleNamespace(train_set=_bright_images(40, seed=1), val_set=_bright_images(40, 2))
    seen = []

    class GroupedBright(Bright):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            seen.append(len(images))
            return MinibatchStd(4)(images)[:, :1].mean(dim=(1, 2, 3))

    model = _gan_with(GroupedBright())
    DiscriminatorOverfitting(num_images=30).scores(model, data, batch_size=24)
    assert seen == [24, 24, 24]  # training, held-out, generated


def test_scoring_leaves_buffers_and_the_rngs_as_they_were():
    """BatchNorm's running statistics, spectral norm's power iteration and dropout's draws all
    run in training mode, and all are put back."""
    d = nn.Sequential(
        nn.utils.parametrizations.spectral_norm(nn.Conv2d(1, 4, 3)),
        nn.BatchNorm2d(4),
        nn.Dropout(0.5),
        nn.Flatten(),
    )
    d(torch.randn(8, 1, 6, 6))  # the buffers away from their initial values
    before = {name: b.clone() for name, b in d.named_buffers()}
    rng = torch.get_rng_state()
    with untouched([d], torch.device("cpu")):
        d(torch.randn(8, 1, 6, 6) * 5)
        assert not torch.equal(d[1].running_mean, before["1.running_mean"])
    assert all(torch.equal(b, before[name]) for name, b in d.named_buffers())
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.slow
def test_measuring_d_changes_nothing_in_training_and_logs_its_scores(make_cfg, tmp_path):
    """The default DCGAN (BatchNorm in D and G), default callbacks, 2 epochs: with the
    measurement every epoch, the run ends with the same weights and buffers as without it."""

    def run(*extra: str, out: str) -> tuple[dict, dict]:
        cfg = make_cfg("trainer.max_epochs=2", "seed=5", *extra, output_dir=tmp_path / out)
        metrics = train(cfg)
        ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        return metrics, torch.load(ckpt, weights_only=False)["state_dict"]

    measured, with_it = run(out="measured")
    _, without_it = run("callbacks.overfitting=null", out="unmeasured")
    assert [k for k, v in with_it.items() if not torch.equal(v, without_it[k])] == []
    for name in ("d_train", "d_heldout", "d_generated", "d_overfit"):
        assert math.isfinite(measured[f"val/{name}"]), measured


@pytest.mark.slow
def test_the_measurement_runs_every_n_epochs_and_after_the_last_on_num_images(
    make_cfg, monkeypatch
):
    """every_n_epochs=2 over 3 epochs: after epochs 2 and 3 only; num_images from the config."""
    sizes = []
    scores = DiscriminatorOverfitting.scores

    def counted(self, pl_module, datamodule, batch_size):
        sizes.append(self.num_images)
        return scores(self, pl_module, datamodule, batch_size)

    monkeypatch.setattr(DiscriminatorOverfitting, "scores", counted)
    cfg = make_cfg("trainer.max_epochs=3", "callbacks.overfitting.every_n_epochs=2",
                   "callbacks.overfitting.num_images=48")  # fmt: skip
    train(cfg)
    rows = run_history(Path(cfg.paths.output_dir))
    assert sorted(int(r["epoch"]) for r in rows if "val/d_overfit" in r) == [1, 2]
    assert sizes == [48, 48]


def test_bad_overfitting_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="num_images=0"):
        DiscriminatorOverfitting(num_images=0)
    with pytest.raises(ValueError, match="every_n_epochs=0"):
        DiscriminatorOverfitting(every_n_epochs=0)
