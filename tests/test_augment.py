"""DiffAugment: differentiable, the same for real and generated images, on every image D sees."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from gan.augment import DiffAugment, color, cutout, translation
from gan.config import ConfigError, validate_config
from tests.conftest import fit_on_random_images


@pytest.mark.parametrize("transform", [color, translation, cutout])
def test_each_transform_passes_gradients_back_to_its_input(transform):
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    out = transform(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("transform", [translation, cutout])
def test_the_draws_do_not_depend_on_the_images(transform):
    """Real and generated batches get transforms from the same distribution: under one seed, two
    different batches get the same shifts and squares (these transforms are linear per image)."""
    x = torch.randn(6, 1, 28, 28)
    torch.manual_seed(0)
    a = transform(x)
    torch.manual_seed(0)
    b = transform(2 * x + 0)
    assert torch.allclose(b, 2 * a)


def test_translation_shifts_whole_images_by_at_most_an_eighth_filling_with_zero():
    torch.manual_seed(0)
    ones = torch.ones(64, 1, 32, 32)
    shifted = translation(ones)  # each a block of ones, the rest zeros
    zero_rows = (shifted.sum(dim=3) == 0).sum(dim=2).flatten()  # (64,)
    zero_cols = (shifted.sum(dim=2) == 0).sum(dim=2).flatten()
    assert zero_rows.max() <= 4 and zero_cols.max() <= 4  # 32 / 8
    assert (zero_rows > 0).any() and (zero_cols > 0).any()
    assert set(shifted.unique().tolist()) <= {0.0, 1.0}


def test_cutout_zeroes_one_square_of_half_the_side_at_most():
    torch.manual_seed(0)
    ones = torch.ones(64, 1, 28, 28)
    cut = cutout(ones)
    zeros = (cut == 0).sum(dim=(1, 2, 3))  # (64,)
    assert zeros.max() <= 14 * 14 and zeros.min() > 0


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match=r"augment\.policy='flip'"):
        DiffAugment("flip")
    assert DiffAugment(" color , cutout").policy == ["color", "cutout"]


@pytest.mark.parametrize("model", ["dcgan", "gan", "cdcgan"])
def test_every_image_d_sees_is_augmented_and_g_still_learns(make_cfg, model):
    cfg = make_cfg(f"model={model}", "augment=diffaugment", "augment.policy=translation")
    gan = instantiate(cfg.model)
    assert isinstance(gan.augment, DiffAugment)
    seen = []
    forward = gan.discriminator.forward
    gan.discriminator.forward = lambda x, *rest: (
        seen.append(x.detach().clone()) or forward(x, *rest)
    )
    g_before = [p.detach().clone() for p in gan.generator.parameters()]
    metrics = fit_on_random_images(gan)
    assert math.isfinite(metrics["train/loss_g"])
    # Translation zero-fills at least one row or column of most images: raw images in [-1, 1]
    # from torch.rand almost never hold an exact 0 there.
    assert any((x == 0).sum() > 0 for x in seen) and len(seen) >= 6  # real, fake, G step x 2
    assert any(
        not torch.equal(a, p) for a, p in zip(g_before, gan.generator.parameters(), strict=True)
    )


def test_a_policy_of_two_transforms_is_given_as_a_list_or_a_quoted_string(make_cfg):
    """Unquoted, Hydra reads `augment.policy=color,translation` as a list (and refuses it
    outside a sweep); both the list and the quoted string give the two transforms."""
    for value in ("[translation,cutout]", '"translation,cutout"'):
        cfg = make_cfg("augment=diffaugment", f"augment.policy={value}")
        assert instantiate(cfg.model).augment.policy == ["translation", "cutout"], value
    cfg = make_cfg("augment=diffaugment", "augment.policy=[translation,flip]")
    with pytest.raises(InstantiationException, match=r"augment\.policy=\['translation', 'flip'\]"):
        instantiate(cfg.model)


def test_a_bad_policy_in_the_config_is_refused(make_cfg):
    cfg = make_cfg("augment=diffaugment", "augment.policy=flip")
    with pytest.raises(InstantiationException, match=r"augment\.policy='flip'"):
        instantiate(cfg.model)


def test_diffaugment_on_the_2d_mixtures_points_is_refused_by_name(make_cfg):
    cfg = make_cfg("experiment=mixture", "augment=diffaugment", shrink="gan")
    message = r"augment=diffaugment is invalid with data\.resolution=1: it translates"
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
    validate_config(make_cfg("experiment=mixture", shrink="gan"))  # fine without it
