"""gan: a PyTorch Lightning + Hydra research template for generative adversarial networks."""
