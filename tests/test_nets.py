import copy

import pytest
import torch

from gan.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator

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
    assert DCGANDiscriminator(width=8).net[0].out_channels == 8


def test_dcgan_initialisation_is_normal_0_002():
    weight = DCGANGenerator(width=64).net[3].weight  # (256, 128, 4, 4): enough samples for the std
    assert abs(weight.mean().item()) < 1e-3
    assert weight.std().item() == pytest.approx(0.02, rel=0.02)
    bn_scale = DCGANDiscriminator(width=64).net[3].weight
    assert bn_scale.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: DCGANGenerator(width=0), "width=0"),
        (lambda: DCGANGenerator(latent_dim=0), "latent_dim=0"),
        (lambda: MLPGenerator(hidden=[]), "hidden=[]"),
        (lambda: MLPDiscriminator(dropout=1.5), "dropout=1.5"),
    ],
)
def test_bad_sizes_are_refused_by_name(factory, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        factory()
