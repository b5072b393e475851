"""StyleGAN2 (gan/nets/stylegan2.py): StyleGAN2-ADA's own networks as the witness (outputs and
parameter counts), shapes at every size, demodulation, truncation, style mixing, and the
training regime: lazy R1, path length, EMA by half-life."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gan.ema import EMA, half_life_decay
from gan.losses import NonSaturatingLoss, PathLengthPenalty, r1_penalty
from gan.module import GAN
from gan.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from gan.nets.stylegan2_layers import fir_filter, modulated_conv2d
from tests.conftest import fit_on_random_images

WITNESS = Path(__file__).parent / "data" / "stylegan2_witness.pt"


def tiny(resolution: int = 32, channels: int = 1, num_classes: int | None = None, **kwargs):
    """A StyleGAN2 small enough for a unit test: at most 8 channels, z and w of 8."""
    sizes = dict(channel_base=2048, channel_max=8, conv_clamp=256)
    mixing = kwargs.pop("style_mixing_prob", 0.0)
    g = StyleGAN2Generator(8, 8, resolution, channels, num_classes, mapping_layers=2,
                           style_mixing_prob=mixing, **sizes)  # fmt: skip
    d = StyleGAN2Discriminator(resolution, channels, num_classes, mbstd_group_size=2, **sizes,
                               **kwargs)  # fmt: skip
    return g, d


@pytest.mark.parametrize("name", ["conditional_resnet_32_rgb", "unconditional_orig_32_grey"])
def test_the_networks_compute_what_stylegan2_adas_own_compute(name):
    """StyleGAN2-ADA's networks (its code, randomly initialised: make_stylegan2_witness.py),
    loaded by parameter name: the same images (constant noise, truncation 0.7) and logits."""
    witness = torch.load(WITNESS, weights_only=True)
    case, size = witness[name], witness["size"]
    config = case["case"]
    num_classes = config["c_dim"] or None
    g = StyleGAN2Generator(size["z_dim"], size["w_dim"], config["res"], config["channels"],
                           num_classes, size["mapping_layers"], size["channel_base"],
                           size["channel_max"], style_mixing_prob=0.0, conv_clamp=256)  # fmt: skip
    g.eval()
    d = StyleGAN2Discriminator(config["res"], config["channels"], num_classes,
                               config["architecture"], size["channel_base"], size["channel_max"],
                               size["mbstd"], conv_clamp=256)  # fmt: skip
    g.load_state_dict(case["G"])
    d.load_state_dict(case["D"])
    labels = case["labels"] if num_classes else None
    with torch.no_grad():
        images = g(case["z"], labels, truncation_psi=case["psi"])
        logits = d(case["images"], labels)
    torch.testing.assert_close(images, case["images"], atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, case["logits"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("config", "g_params", "d_params"),
    [
        # StyleGAN2-ADA's `cifar` configuration (conditional on 10 classes, D `orig`); its own
        # Generator and Discriminator count 20,215,315 and 23,089,664 parameters.
        (dict(resolution=32, num_classes=10, channel_base=32768, mapping_layers=2,
              architecture="orig"), 20_215_315, 23_089_664),
        # Its `auto` configuration at 256 px (fmaps 0.5: channel_base 16384), unconditional.
        (dict(resolution=256, num_classes=None, channel_base=16384, mapping_layers=2,
              architecture="resnet"), 23_191_522, 24_001_089),
    ],
    ids=["cifar", "auto-256"],
)  # fmt: skip
def test_parameter_counts_are_stylegan2_adas(config, g_params, d_params):
    with torch.device("meta"):  # counted, not allocated
        g = StyleGAN2Generator(512, 512, config["resolution"], 3, config["num_classes"],
                               config["mapping_layers"], config["channel_base"], 512)  # fmt: skip
        d = StyleGAN2Discriminator(config["resolution"], 3, config["num_classes"],
                                   config["architecture"], config["channel_base"], 512)  # fmt: skip
    assert sum(p.numel() for p in g.parameters()) == g_params
    assert sum(p.numel() for p in d.parameters()) == d_params


@pytest.mark.parametrize("resolution", [28, 32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [None, 5])
def test_every_size_channel_count_and_conditioning_has_the_right_shapes(resolution, channels,
                                                                        num_classes):  # fmt: skip
    g, d = tiny(resolution, channels, num_classes)
    z = torch.randn(4, 8)
    labels = torch.tensor([0, 1, 2, 4]) if num_classes else None
    images = g(z, labels)
    assert images.shape == (4, channels, resolution, resolution)
    assert d(images, labels).shape == (4,)
    assert g.num_ws == 2 * int(math.log2(32 if resolution == 28 else resolution)) - 2


def test_demodulation_gives_unit_output_variance_for_unit_input_variance():
    """The paper's argument for demodulation (section 2.2): with unit-variance inputs, every
    output channel keeps unit standard deviation whatever the weights and styles."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, 64, 64, generator=generator)
    weight = torch.randn(48, 64, 3, 3, generator=generator) * 5
    styles = torch.randn(4, 64, generator=generator).exp()  # scales of very different sizes
    for fused in (True, False):
        out = modulated_conv2d(x, weight, styles, padding=1, fused=fused)
        std = out[:, :, 1:-1, 1:-1].std(dim=(2, 3))  # (B, O), away from the zero padding
        assert (std.mean() - 1).abs() < 0.01 and (std - 1).abs().max() < 0.06
    undemodulated = modulated_conv2d(x, weight, styles, padding=1, demodulate=False)
    assert undemodulated.std() > 10


@pytest.mark.parametrize("up", [1, 2])
def test_the_fused_and_the_shared_modulated_convolution_agree(up):
    """Eval on a GPU runs the grouped (fused) convolution, training and a CPU the shared one."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 8, 8, 8, generator=generator)
    weight = torch.randn(5, 8, 3, 3, generator=generator)
    styles = torch.randn(3, 8, generator=generator)
    common = dict(up=up, padding=1, resample_filter=fir_filter(), flip_weight=up == 1)
    fused = modulated_conv2d(x, weight, styles, fused=True, **common)
    shared = modulated_conv2d(x, weight, styles, fused=False, **common)
    assert fused.shape == (3, 5, 8 * up, 8 * up)
    torch.testing.assert_close(fused, shared, atol=1e-5, rtol=1e-5)


def test_truncation_psi_one_is_the_identity_and_zero_the_average_image():
    g, _ = tiny()
    g.mapping.w_avg.normal_()
    g.eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(g(z, truncation_psi=1.0), g(z))
        average = g(z, truncation_psi=0.0)  # (4, 1, 32, 32): every z the same image
        assert torch.allclose(average, average[:1].expand_as(average), atol=1e-6)
        w_avg = g.mapping.w_avg.expand(4, g.num_ws, -1)  # the same batch: the same kernels
        assert torch.allclose(average, g.image(w_avg), atol=1e-6)
        assert not torch.allclose(g(z, truncation_psi=0.5), g(z))
        ws, cut = g.ws(z), g.ws(z, truncation_psi=0.0, truncation_cutoff=2)  # (4, num_ws, w)
        assert torch.equal(cut[:, 2:], ws[:, 2:])  # past the cutoff: untouched
        assert torch.allclose(cut[:, :2], g.mapping.w_avg.expand(4, 2, -1))


def test_style_mixing_takes_the_later_layers_from_a_second_z():
    g, _ = tiny(style_mixing_prob=1.0)
    g.train()
    z = torch.randn(4, 8)
    torch.manual_seed(3)
    ws = g.ws(z)  # (4, num_ws, 8)
    torch.manual_seed(3)
    cutoff = int(torch.randint(1, g.num_ws, ()))
    assert torch.equal(ws[:, :cutoff], ws[:, :1].expand(-1, cutoff, -1))  # one w before it
    assert not torch.allclose(ws[:, cutoff], ws[:, 0])  # another z's after
    g.style_mixing_prob = 0.0
    ws = g.ws(z)
    assert torch.equal(ws, ws[:, :1].expand_as(ws))


def test_ema_half_life_arithmetic():
    """StyleGAN2-ADA's rule: 0.5 ** (batch / half-life), the half-life ramped up as rampup
    times the images seen: after 10 kimg of half-life, a step of 32 images keeps 0.5 ** 0.0032."""
    assert half_life_decay(10, None, 123_456, 32) == pytest.approx(0.5 ** (32 / 10_000))
    assert half_life_decay(10, 0.05, 1_000, 32) == pytest.approx(0.5 ** (32 / 50))
    assert half_life_decay(10, 0.05, 10**9, 32) == pytest.approx(0.5 ** (32 / 10_000))
    assert half_life_decay(10, 0.05, 0, 32) == 0.0  # the first step copies G
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=None, half_life_kimg=0.064, rampup=None)
    before = ema.averaged.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, images_before=1000, batch=32)  # half-life of 64 images: keeps 0.5 ** 0.5
    keep = 0.5**0.5
    assert torch.allclose(ema.averaged.weight, keep * before + (1 - keep) * net.weight)


def _stylegan2_gan(r1_interval: int = 4, path_length: PathLengthPenalty | None = None) -> GAN:
    torch.manual_seed(0)
    g, d = tiny(resolution=28)
    return GAN(g, d, NonSaturatingLoss(r1_gamma=2.0, r1_interval=r1_interval),
               lambda p: torch.optim.Adam(p, lr=0.0025, betas=(0.0, 0.99)),
               lambda p: torch.optim.Adam(p, lr=0.0025, betas=(0.0, 0.99)),
               latent_dim=8, fresh_noise_for_g=True, ema_decay=None, ema_half_life_kimg=0.1,
               ema_rampup=0.05, path_length=path_length)  # fmt: skip


def test_lazy_r1_is_the_eager_penalty_times_the_interval_at_the_steps_it_runs(monkeypatch):
    """Nine D steps with R1 every 4: extra D steps after the 1st, 5th and 9th, each on R1 times
    4 as the eager penalty computes it with D as it is then; the learning rate and betas are
    scaled by 4 / 5."""
    model = _stylegan2_gan(r1_interval=4)
    seen = []
    lazy = model.loss.lazy_r1_penalty

    def recording(critic, real, pack=1):
        penalty = lazy(critic, real, pack)
        eager = r1_penalty(critic, real.float(), 2.0, pack)
        seen.append((model.d_steps, float(penalty.detach()), float(eager.detach()) * 4))
        return penalty

    monkeypatch.setattr(model.loss, "lazy_r1_penalty", recording)
    fit_on_random_images(model, batches=9)
    assert [step for step, _, _ in seen] == [0, 4, 8]
    for _, penalty, expected in seen:
        assert penalty == pytest.approx(expected, rel=1e-5)
    opt_g, opt_d = model.optimizers()
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.0025 * 4 / 5)
    assert opt_d.param_groups[0]["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.0025)  # G is not regularised here


def test_path_length_runs_every_interval_and_tracks_its_mean():
    model = _stylegan2_gan(path_length=PathLengthPenalty(interval=3))
    fit_on_random_images(model, batches=7)
    opt_g = model.optimizers()[0]
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.0025 * 3 / 4)
    assert opt_g.state[opt_g.param_groups[0]["params"][0]]["step"] == 7 + 3  # after 0, 3, 6
    assert float(model.path_length.pl_mean) > 0
    assert "path_length.pl_mean" in model.state_dict()


def test_noise_mode_sets_the_noise_of_samples():
    """const: the same fixed maps every call; random: new noise each call; none: no noise."""
    g, _ = tiny()
    for name, parameter in g.named_parameters():
        if name.endswith("noise_strength"):
            parameter.data.fill_(1.0)
    g.eval()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        const = g(z)
        assert torch.equal(const, g(z))
        g.noise_mode = "random"
        assert not torch.allclose(g(z), g(z))
        g.noise_mode = "none"
        quiet = g(z)
        for name, parameter in g.named_parameters():
            if name.endswith("noise_strength"):
                parameter.data.zero_()
        torch.testing.assert_close(quiet, g(z))
        assert not torch.allclose(quiet, const)
    with pytest.raises(ValueError, match="noise_mode='rand'"):
        StyleGAN2Generator(8, 8, 32, 1, noise_mode="rand")


def test_conv_clamp_bounds_every_convolutions_output():
    """The skip generator sums one clamped toRGB output per block (the FIR up-sampling of the
    image so far keeps its bound), so |image| <= blocks x conv_clamp."""
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    for clamp in (None, 1e-3):
        torch.manual_seed(0)
        g = StyleGAN2Generator(8, 8, 32, 1, None, 2, 2048, 8, style_mixing_prob=0.0,
                               conv_clamp=clamp).eval()  # fmt: skip
        with torch.no_grad():
            peak = float(g(z).abs().max())
        if clamp is None:
            assert peak > 0.1
        else:
            assert peak <= 4 * clamp * (1 + 1e-5)  # blocks at 4, 8, 16 and 32 px


def test_path_length_weight_decay_and_batch_shrink_each_do_what_they_say():
    g, _ = tiny()
    g.train()
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    batches = []
    ws = g.ws
    g.ws = lambda z, labels: batches.append(len(z)) or ws(z, labels)

    def run(**kwargs):
        penalty = PathLengthPenalty(interval=1, **kwargs)
        torch.manual_seed(0)  # the same projection noise and style mixing for every run
        return penalty(g, z, None).detach(), float(penalty.pl_mean)

    base, mean = run(weight=2.0, decay=0.5)
    doubled, _ = run(weight=4.0, decay=0.5)
    torch.testing.assert_close(doubled, 2 * base)
    _, full_mean = run(weight=2.0, decay=1.0)  # from pl_mean 0: a = decay x mean length
    assert mean == pytest.approx(0.5 * full_mean)
    run(batch_shrink=4)
    assert batches == [4, 4, 4, 2]  # the default shrink of 2, then 4
