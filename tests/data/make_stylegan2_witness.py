"""Writes stylegan2_witness.pt: StyleGAN2-ADA's own networks (NVlabs/stylegan2-ada-pytorch,
`training/networks.py`, run on the CPU through its reference ops), randomly initialised at a tiny
size, with their outputs for fixed inputs: the witness tests/test_stylegan2.py holds
gan.nets.stylegan2 to. Run it with a checkout of that repository on PYTHONPATH
(`PYTHONPATH=<stylegan2-ada-pytorch> python tests/data/make_stylegan2_witness.py`); the project
never imports it.

Two configurations: conditional (3 classes) at 32x32 RGB with the resnet discriminator, and
unconditional at 32x32 grey with the `orig` one; conv_clamp 256 as StyleGAN2-ADA's configs set it.
Kept: the state dicts (less the FIR filter buffers, which the project builds itself), z, the
classes, the truncation psi, the generator's images (constant noise, eval mode) and the
discriminator's logits of those images.
"""

from pathlib import Path

import torch

CASES = {
    "conditional_resnet_32_rgb": dict(c_dim=3, res=32, channels=3, architecture="resnet"),
    "unconditional_orig_32_grey": dict(c_dim=0, res=32, channels=1, architecture="orig"),
}
# Tiny: channels min(128 // r, 8), z and w of 8, two mapping layers, groups of 2 in mbstd.
SIZE = dict(z_dim=8, w_dim=8, channel_base=128, channel_max=8, mapping_layers=2, mbstd=2)

if __name__ == "__main__":
    from training.networks import Discriminator, Generator

    out = {"size": SIZE}
    for name, case in CASES.items():
        torch.manual_seed(sorted(CASES).index(name))
        common = dict(channel_base=SIZE["channel_base"], channel_max=SIZE["channel_max"],
                      num_fp16_res=0, conv_clamp=256)  # fmt: skip
        G = Generator(z_dim=SIZE["z_dim"], c_dim=case["c_dim"], w_dim=SIZE["w_dim"],
                      img_resolution=case["res"], img_channels=case["channels"],
                      mapping_kwargs=dict(num_layers=SIZE["mapping_layers"]),
                      synthesis_kwargs=common).eval()  # fmt: skip
        D = Discriminator(
            c_dim=case["c_dim"], img_resolution=case["res"], img_channels=case["channels"],
            architecture=case["architecture"],
            epilogue_kwargs=dict(mbstd_group_size=SIZE["mbstd"]), **common,
        )  # fmt: skip
        G.mapping.w_avg.normal_()  # a tracked average w, for truncation
        z = torch.randn(4, SIZE["z_dim"])
        labels = torch.arange(4) % max(case["c_dim"], 1)
        c = torch.nn.functional.one_hot(labels, case["c_dim"]).float() if case["c_dim"] else None
        with torch.no_grad():
            images = G(z, c, truncation_psi=0.7, noise_mode="const")
            logits = D(images, c)
        keep = lambda sd: {k: v for k, v in sd.items() if "resample_filter" not in k}  # noqa: E731
        out[name] = dict(
            case=case, G=keep(G.state_dict()), D=keep(D.state_dict()), z=z, labels=labels,
            psi=0.7, images=images, logits=logits.flatten(),
        )  # fmt: skip
    torch.save(out, Path(__file__).with_name("stylegan2_witness.pt"))
    print({k: tuple(v["images"].shape) for k, v in out.items() if k != "size"})
