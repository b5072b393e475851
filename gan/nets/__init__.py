"""Generators and discriminators: plain PyTorch modules that know nothing of Lightning or Hydra."""

from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "dcgan_init"]
