"""Generators and discriminators: plain PyTorch modules that know nothing of Lightning or Hydra."""

from gan.nets.conditional import ConditionalDCGANGenerator, ProjectionDiscriminator
from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.nets.dcgan_tf import TFDCGANDiscriminator, TFDCGANGenerator
from gan.nets.mlp import MLPDiscriminator, MLPGenerator
from gan.nets.patchgan import PatchGAN
from gan.nets.resnet import ResNetDiscriminator, ResNetGenerator
from gan.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from gan.nets.unet import UNet

__all__ = [
    "ConditionalDCGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "PatchGAN",
    "ProjectionDiscriminator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "TFDCGANDiscriminator",
    "TFDCGANGenerator",
    "UNet",
    "dcgan_init",
]
