"""Image-to-image tasks: inpainting and super-resolution (pix2pix), unpaired translation
(CycleGAN)."""
