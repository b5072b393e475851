"""The `remedy` group (conf/remedy): each option turns on the remedy it names over a recipe, and
nothing else, so one sweep (`remedy=none,pack2,...`) compares them on one benchmark."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from torch import nn
from torch.nn.utils import parametrize

from gan.config import ConfigError, validate_config
from gan.nets.norm import has_batch_norm
from tests.conftest import CONFIG_DIR

REMEDIES = sorted(p.stem for p in (CONFIG_DIR / "remedy").glob("*.yaml"))
# What each remedy changes in the trained module, against the recipe without it.
CHANGES = {
    "none": set(),
    "pack2": {"pack"},
    "pack3": {"pack"},
    "pack4": {"pack"},
    "minibatch_std": {"minibatch_std"},
    "diffaugment": {"augment"},
    "spectral": {"norm"},
    "sngan_hinge": {"norm", "loss", "betas"},
    "wgan_gp": {"norm", "loss", "n_critic", "betas"},
    "r1": {"norm", "r1_gamma"},
    "ema": {"ema"},
    "ada": {"augment"},
    "lecam": {"lecam"},
    "bcr": {"consistency"},
    "zcr": {"consistency"},
    "diffaugment_lecam": {"augment", "lecam"},
    "ada_lecam": {"augment", "lecam"},
}
# The batch each remedy needs from a recipe of batch 64 (packs of 3 need a multiple of 3).
BATCH = {"pack3": ["data.batch_size=63"]}


def _norm(net: nn.Module) -> str:
    if any(parametrize.is_parametrized(m, "weight") for m in net.modules()):
        return "spectral"
    return "batch" if has_batch_norm(net) else "none"


def _effects(gan) -> dict[str, object]:
    """The settings of a built GAN that the remedies act on."""
    d = gan.discriminator
    opt_g, opt_d = gan.configure_optimizers()
    return {
        "pack": d.pack,
        "minibatch_std": d.minibatch_std is not None,
        "augment": type(gan.augment).__name__ if gan.augment is not None else None,
        "norm": _norm(d),
        "loss": type(gan.loss).__name__,
        "n_critic": gan.loss.n_critic,
        "r1_gamma": gan.loss.r1_gamma,
        "betas": (opt_g.param_groups[0]["betas"], opt_d.param_groups[0]["betas"]),
        "ema": gan.generator_ema.decay if gan.generator_ema else None,
        "lecam": repr(gan.lecam),
        "consistency": repr(gan.consistency),
    }


def test_every_remedy_file_is_described_here():
    assert sorted(CHANGES) == REMEDIES


@pytest.mark.parametrize("remedy", REMEDIES)
def test_a_remedy_changes_what_it_names_and_nothing_else(make_cfg, remedy):
    recipe = ["experiment=stacked_mnist"]
    base = _effects(instantiate(make_cfg(*recipe).model))
    cfg = make_cfg(*recipe, f"remedy={remedy}", *BATCH.get(remedy, []))
    validate_config(cfg)
    effects = _effects(instantiate(cfg.model))
    assert {key for key in base if effects[key] != base[key]} == CHANGES[remedy]
    if remedy.startswith("pack"):
        assert effects["pack"] == int(remedy[-1])


def test_pack3_without_a_batch_it_divides_is_refused_by_name(make_cfg):
    with pytest.raises(ConfigError, match=r"pack=3 is invalid: data\.batch_size=64 must be"):
        validate_config(make_cfg("experiment=stacked_mnist", "remedy=pack3", fast=False))


@pytest.mark.parametrize("remedy", REMEDIES)
def test_on_the_2d_mixtures_a_remedy_applies_or_is_refused_by_name(make_cfg, remedy):
    cfg = make_cfg("experiment=mixture", f"remedy={remedy}", shrink="gan", fast=False)
    image_only = {"minibatch_std": "minibatch_std", "bcr": "bCR"}
    image_only |= {name: "augment=" for name in ("diffaugment", "ada", "diffaugment_lecam",
                                                  "ada_lecam")}  # fmt: skip
    if remedy in image_only:  # for image discriminators only
        with pytest.raises(ConfigError, match=image_only[remedy]):
            validate_config(cfg)
        return
    if remedy == "pack3":
        cfg.data.batch_size = 99
    validate_config(cfg)
    instantiate(cfg.model)
