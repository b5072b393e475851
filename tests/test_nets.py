import copy

import pytest
import torch
from torch.nn.utils import parametrize

from gan.nets import (
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ProjectionDiscriminator,
    TFDCGANDiscriminator,
    TFDCGANGenerator,
)

NETS = [
    (DCGANGenerator(latent_dim=100, width=16), DCGANDiscriminator(width=16)),
    (MLPGenerator(latent_dim=100, hidden=[32, 64]), MLPDiscriminator(hidden=[64, 32])),
]


@pytest.mark.parametrize(("generator", "discriminator"), NETS)
@pytest.mark.parametrize("z_shape", [(5, 100), (5, 100, 1, 1)])
def test_generator_makes_28x28_images_in_tanh_range(generator, discriminator, z_shape):
    assert generator(torch.randn(*z_shape)).shape == (5, 1, 28, 28)
    saturated = copy.deepcopy(generator)
    with torch.no_grad():  # a huge last layer drives the output to the limits of its Tanh
        saturated.net[-2].weight.mul_(1e4)
    images = saturated(torch.randn(*z_shape))
    assert images.min() >= -1 and images.max() <= 1
    assert images.min() < -0.99 and images.max() > 0.99


@pytest.mark.parametrize(("generator", "discriminator"), NETS)
def test_discriminator_gives_one_unbounded_logit_per_image(generator, discriminator):
    scores = discriminator(torch.randn(7, 1, 28, 28) * 5)
    assert scores.shape == (7,)
    assert torch.isfinite(scores).all()


def test_dcgan_width_sets_channels():
    assert DCGANGenerator(width=8).net[0].out_channels == 32
    assert DCGANDiscriminator(width=8).features[0].out_channels == 8


def test_dcgan_initialisation_is_normal_0_002():
    weight = DCGANGenerator(width=64).net[3].weight  # (256, 128, 4, 4): enough samples for the std
    assert abs(weight.mean().item()) < 1e-3
    assert weight.std().item() == pytest.approx(0.02, rel=0.02)
    bn_scale = DCGANDiscriminator(width=64).features[3].weight
    assert bn_scale.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: DCGANGenerator(width=0), "width=0"),
        (lambda: DCGANGenerator(latent_dim=0), "latent_dim=0"),
        (lambda: MLPGenerator(hidden=[]), "hidden=[]"),
        (lambda: MLPDiscriminator(dropout=1.5), "dropout=1.5"),
        (lambda: TFDCGANGenerator(resolution=8), "resolution=8"),
        (lambda: TFDCGANDiscriminator(width=0), "width=0"),
    ],
)
def test_bad_sizes_are_refused_by_name(factory, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        factory()


@pytest.mark.parametrize("norm", ["batch", "spectral", "layer", "none"])
@pytest.mark.parametrize(
    "make",
    [
        lambda n: DCGANDiscriminator(width=8, norm=n),
        lambda n: MLPDiscriminator(hidden=[32, 16], norm=n),
        lambda n: TFDCGANDiscriminator(width=8, channels=1, norm=n),
    ],
)
def test_discriminator_norms_build_the_layers_they_name(make, norm):
    net = make(norm)
    kinds = {type(m).__name__ for m in net.modules()}
    assert ("BatchNorm2d" in kinds or "BatchNorm1d" in kinds) == (norm == "batch")
    assert ("GroupNorm" in kinds or "LayerNorm" in kinds) == (norm == "layer")
    assert has_spectral_norm(net) == (norm == "spectral")
    assert net(torch.randn(3, 1, 28, 28)).shape == (3,)


def has_spectral_norm(net: torch.nn.Module) -> bool:
    return any(parametrize.is_parametrized(m, "weight") for m in net.modules())


def test_spectral_norm_makes_every_weight_have_unit_largest_singular_value():
    net = DCGANDiscriminator(width=8, norm="spectral")
    for _ in range(20):  # power iterations run in training-mode forwards
        net(torch.randn(4, 1, 28, 28))
    layers = [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]
    assert len(layers) == 4
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_generator_norm_none_has_no_batchnorm():
    kinds = {type(m).__name__ for m in DCGANGenerator(width=8, norm="none").modules()}
    assert "BatchNorm2d" not in kinds


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: DCGANGenerator(norm="spectral"), "not available for the generator"),
        (lambda: DCGANDiscriminator(norm="instance"), "not available for the discriminator"),
    ],
)
def test_unknown_norms_list_the_choices(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_conditional_generator_output_depends_on_the_label_only_through_the_label():
    generator = ConditionalDCGANGenerator(latent_dim=16, width=8).eval()
    z = torch.randn(1, 16).repeat(10, 1)  # the same noise for every digit
    images = generator(z, torch.arange(10))  # (10, 1, 28, 28)
    assert images.shape == (10, 1, 28, 28)
    differences = (images[1:] - images[:1]).abs().flatten(1).amax(1)
    assert (differences > 1e-4).all()
    assert torch.equal(generator(z[:2], torch.tensor([3, 3]))[0], images[3])


def test_projection_discriminator_scores_depend_on_the_label():
    discriminator = ProjectionDiscriminator(width=8).eval()
    x = torch.randn(1, 1, 28, 28).repeat(10, 1, 1, 1)
    scores = discriminator(x, torch.arange(10))
    assert scores.shape == (10,)
    assert len(set(scores.tolist())) == 10


def _feature_maps(net: torch.nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """(C, H, W) of every convolution's output, in order, for input `x`."""
    shapes = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            assert m.kernel_size == (5, 5)
            m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
    net(x)
    return shapes


def test_the_tensorflow_dcgan_has_pacgan_s_stacked_mnist_layers():
    """PacGAN's VEEGAN-setting network at 28 pixels and w = 64 (its model.py): D convolves
    28 -> 14 -> 7 -> 4 -> 2 with 64, 128, 256, 512 channels; G mirrors it from a linear layer."""
    g, d = TFDCGANGenerator(channels=3), TFDCGANDiscriminator(channels=3)
    assert g.project.in_features == 100 and g.project.out_features == 512 * 2 * 2
    images = g(torch.randn(4, 100))
    assert _feature_maps(g, torch.randn(4, 100)) == [
        (256, 4, 4), (128, 7, 7), (64, 14, 14), (3, 28, 28)
    ]  # fmt: skip
    assert _feature_maps(d, images) == [(64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 2, 2)]
    assert d.head.in_features == 512 * 2 * 2 and d(images).shape == (4,)


@pytest.mark.parametrize(("resolution", "final"), [(28, 2), (32, 2), (64, 4)])
def test_the_tensorflow_dcgan_halves_sides_rounding_up_at_any_resolution(resolution, final):
    g = TFDCGANGenerator(width=8, channels=3, resolution=resolution)
    d = TFDCGANDiscriminator(width=8, channels=3, resolution=resolution)
    images = g(torch.randn(2, 100))
    assert images.shape == (2, 3, resolution, resolution)
    assert _feature_maps(d, images)[-1] == (64, final, final)
