"""Generators and discriminators: plain PyTorch modules that know nothing of Lightning or Hydra."""

from gan.nets.conditional import ConditionalDCGANGenerator, ProjectionDiscriminator
from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.nets.dcgan_tf import TFDCGANDiscriminator, TFDCGANGenerator
from gan.nets.mlp import MLPDiscriminator, MLPGenerator
from gan.nets.patchgan import PatchGAN
from gan.nets.resnet import ResNetDiscriminator, ResNetGenerator
from gan.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from gan.nets.translation import (
    CycleGANGenerator,
    NLayerPatchGAN,
    PatchDiscriminator,
    Pix2PixGenerator,
    ResNetBlocksGenerator,
    UNetGenerator,
)
from gan.nets.unet import UNet

__all__ = [
    "ConditionalDCGANGenerator",
    "CycleGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "NLayerPatchGAN",
    "PatchDiscriminator",
    "PatchGAN",
    "Pix2PixGenerator",
    "ProjectionDiscriminator",
    "ResNetBlocksGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "TFDCGANDiscriminator",
    "TFDCGANGenerator",
    "UNet",
    "UNetGenerator",
    "dcgan_init",
]
