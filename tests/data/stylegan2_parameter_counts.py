"""Prints the parameter counts of G and D for the StyleGAN2 configurations in docs/stylegan2.md,
this project's networks beside StyleGAN2-ADA's own (NVlabs/stylegan2-ada-pytorch,
`training/networks.py`, built on the CPU) where a checkout of it is on PYTHONPATH:

    PYTHONPATH=<stylegan2-ada-pytorch> python tests/data/stylegan2_parameter_counts.py

tests/test_stylegan2.py pins the counts it printed for the `cifar` and the 256-px `auto`
configurations; the project never imports StyleGAN2-ADA's code.
"""

import torch

from gan.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

# name: z and w, resolution, channels, classes, mapping layers, channel_base, channel_max, D
CONFIGS = {
    "stylegan2_cifar10 (ADA's cifar)": (512, 32, 3, 10, 2, 32768, 512, "orig"),
    "stylegan2_folder at 64 px (ADA's auto)": (512, 64, 3, 0, 2, 16384, 512, "resnet"),
    "stylegan2_folder at 128 px (ADA's auto)": (512, 128, 3, 0, 2, 16384, 512, "resnet"),
    "stylegan2_folder at 256 px (ADA's auto)": (512, 256, 3, 0, 2, 16384, 512, "resnet"),
    "stylegan2_small (MNIST, worked at 32 px)": (128, 32, 1, 0, 2, 1024, 64, "resnet"),
    "model=stylegan2 (the paper's) at 256 px": (512, 256, 3, 0, 8, 32768, 512, "resnet"),
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def ours(latent, resolution, channels, classes, mapping, base, cmax, architecture):
    with torch.device("meta"):  # counted, not allocated
        g = StyleGAN2Generator(latent, latent, resolution, channels, classes or None, mapping,
                               base, cmax)  # fmt: skip
        d = StyleGAN2Discriminator(resolution, channels, classes or None, architecture, base,
                                   cmax)  # fmt: skip
    return count(g), count(d)


def theirs(latent, resolution, channels, classes, mapping, base, cmax, architecture):
    from training.networks import Discriminator, Generator

    common = dict(channel_base=base, channel_max=cmax, num_fp16_res=0, conv_clamp=256)
    g = Generator(z_dim=latent, c_dim=classes, w_dim=latent, img_resolution=resolution,
                  img_channels=channels, mapping_kwargs=dict(num_layers=mapping),
                  synthesis_kwargs=common)  # fmt: skip
    d = Discriminator(c_dim=classes, img_resolution=resolution, img_channels=channels,
                      architecture=architecture, **common)  # fmt: skip
    return count(g), count(d)


if __name__ == "__main__":
    try:
        import training.networks  # noqa: F401
    except ImportError:
        theirs = None
    print("| configuration | G | D | StyleGAN2-ADA's G | its D |")
    print("|---|---:|---:|---:|---:|")
    for name, config in CONFIGS.items():
        g, d = ours(*config)
        reference = [f"{n:,}" for n in theirs(*config)] if theirs else ["–", "–"]
        print(f"| {name} | {g:,} | {d:,} | {' | '.join(reference)} |")
