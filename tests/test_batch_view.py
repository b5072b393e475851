"""Packing (PacGAN) and the minibatch standard deviation (ProGAN): D sees more than one sample."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from gan.config import ConfigError, validate_config
from gan.nets import (
    DCGANDiscriminator,
    MLPDiscriminator,
    ResNetDiscriminator,
    TFDCGANDiscriminator,
)
from gan.nets.batch_view import MinibatchStd, pack_samples
from tests.conftest import fit_on_random_images

LOSSES = ["bce", "hinge", "lsgan", "minimax", "wgan", "wgan_gp"]


def test_packs_put_consecutive_samples_side_by_side():
    x = torch.arange(4.0).reshape(4, 1, 1, 1)  # sample i holds the value i
    packed = pack_samples(x, 2)  # (2, 2, 1, 1)
    assert packed.flatten().tolist() == [0.0, 1.0, 2.0, 3.0]
    assert packed.shape == (2, 2, 1, 1)
    with pytest.raises(ValueError, match="pack=3: a batch of 4 samples cannot be cut"):
        pack_samples(x, 3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DCGANDiscriminator(width=8, pack=2),
        lambda: MLPDiscriminator(hidden=[32], pack=2),
        lambda: ResNetDiscriminator(width=8, channels=1, pack=2),
        lambda: TFDCGANDiscriminator(width=8, channels=1, pack=2),
    ],
    ids=["dcgan", "mlp", "resnet", "dcgan_tf"],
)
def test_a_packed_discriminator_scores_each_pack_from_all_its_members(make):
    torch.manual_seed(0)
    d = make().eval()
    size = 32 if isinstance(d, ResNetDiscriminator) else 28
    x = torch.randn(8, 1, size, size)
    scores = d(x)
    assert scores.shape == (4,)  # one score per pack of 2
    changed = x.clone()
    changed[1] += 1.0  # the second member of the first pack
    new_scores = d(changed)
    assert new_scores[0] != scores[0]  # the pack's score sees both members
    assert torch.equal(new_scores[1:], scores[1:])  # the other packs do not


def test_the_minibatch_std_map_is_zero_for_identical_samples_and_grows_with_spread():
    layer = MinibatchStd(4)
    same = torch.ones(4, 3, 2, 2)
    assert torch.allclose(layer(same)[:, 3], torch.full((4, 2, 2), 1e-4), atol=1e-4)
    spread = torch.randn(8, 3, 2, 2)
    out = layer(spread)  # (8, 4, 2, 2)
    assert out.shape == (8, 4, 2, 2) and (out[:, 3] > 0.1).all()
    assert torch.equal(out[:, :3], spread)


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (lambda **std: DCGANDiscriminator(width=8, **std), 28),
        (lambda **std: ResNetDiscriminator(width=8, channels=1, **std), 32),
        (lambda **std: TFDCGANDiscriminator(width=8, channels=1, **std), 28),
    ],
    ids=["dcgan", "resnet", "dcgan_tf"],
)
def test_with_minibatch_std_a_sample_s_score_depends_on_its_group(make, size):
    torch.manual_seed(0)
    x = torch.randn(8, 1, size, size)
    changed = x.clone()
    changed[4] += 3.0  # sample 4 shares a group with sample 0 (groups are i, i + 2, i + 4, ...)
    d = make(minibatch_std=4).eval()
    scores, new_scores = d(x), d(changed)
    assert new_scores[0] != scores[0]  # sample 0 did not change, its group's spread did
    assert torch.equal(new_scores[1], scores[1])  # sample 1 is in the other group
    plain = make().eval()  # the option off: no sample's score sees another sample
    assert torch.equal(plain(x)[:4], plain(changed)[:4])


@pytest.mark.slow
@pytest.mark.parametrize("loss", LOSSES)
def test_packing_and_minibatch_std_train_with_every_loss(make_cfg, loss):
    norm = "model.discriminator.norm=spectral" if loss == "wgan_gp" else "loss.n_critic=1"
    cfg = make_cfg(f"loss={loss}", "model.discriminator.pack=2",
                   "model.discriminator.minibatch_std=2", norm, "loss.n_critic=1")  # fmt: skip
    validate_config(cfg)
    gan = instantiate(cfg.model)
    metrics = fit_on_random_images(gan)  # batches of 4: 2 packs of 2, one group of 2
    assert math.isfinite(metrics["train/loss_d"]) and math.isfinite(metrics["train/loss_g"])
    assert gan.discriminator.features[0].in_channels == 2  # two grey images a pack


def test_r1_works_on_a_packed_discriminator(make_cfg):
    cfg = make_cfg("loss.r1_gamma=5", "model.discriminator.norm=spectral",
                   "model.discriminator.pack=2")  # fmt: skip
    metrics = fit_on_random_images(instantiate(cfg.model))
    assert metrics["train/d_penalty"] > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.batch_size=10", "model.discriminator.pack=4"],
         r"model\.discriminator\.pack=4 is invalid: data\.batch_size=10 must be a multiple"),
        (["model=cdcgan", "+model.discriminator.pack=2"],
         r"model\.discriminator\.pack=2 is invalid: packing is for .*not gan\.nets\.Projection"),
        (["model.discriminator.minibatch_std=1"],
         r"model\.discriminator\.minibatch_std=1 is invalid: a group size >= 2"),
        (["data.batch_size=12", "model.discriminator.pack=2",
          "model.discriminator.minibatch_std=4"],
         r"minibatch_std=4 is invalid: the 6 samples \(or packs\)"),
        (["model=gan", "+model.discriminator.minibatch_std=2"],
         r"minibatch_std=2 is invalid: the minibatch standard deviation is for"),
    ],
    ids=["batch not a multiple", "conditional D", "group of 1", "packs not in groups", "mlp"],
)  # fmt: skip
def test_options_a_discriminator_or_batch_cannot_take_are_refused_by_name(
    make_cfg, overrides, message
):
    with pytest.raises(ConfigError, match=message):
        validate_config(make_cfg(*overrides))
