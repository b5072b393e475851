"""Image-to-image tasks: paired translation, inpainting and super-resolution (pix2pix), unpaired
translation and style transfer (CycleGAN), on MNIST and on folders of photos."""
