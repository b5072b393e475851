"""Metrics of image-to-image outputs against their ground truth: PSNR, SSIM (torchmetrics),
FID-MNIST of the outputs against the ground-truth images, the MNIST classifier's accuracy on the
outputs (does the digit keep its identity?) and sharpness.

PSNR is the mean over images of 10 log10(1 / MSE) on the [0, 1] scale; an image equal to its
ground truth has infinite PSNR, so the PSNR of identical sets is `inf` (not capped). SSIM of
identical images is 1. Sharpness is the mean gradient magnitude (finite differences) of the
outputs divided by that of the ground truth: 1 is as sharp as the truth, below 1 blurrier.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from gan.metrics.classifier import MNISTClassifier, embed
from gan.metrics.scores import frechet_distance


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (images.float() + 1) / 2


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of images (N, 1, H, W) in [-1, 1] (inf where identical)."""
    per_image = peak_signal_noise_ratio(
        to_unit(output), to_unit(target), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )
    return float(per_image.mean())


def ssim(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean SSIM (Gaussian window 11, sigma 1.5) of images in [-1, 1]."""
    return float(
        structural_similarity_index_measure(to_unit(output), to_unit(target), data_range=1.0)
    )


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Mean |horizontal| + |vertical| difference of neighbouring pixels, per image (N,)."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy


def sharpness(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean gradient magnitude of the outputs relative to the ground truth's."""
    return float(gradient_magnitude(output).mean() / gradient_magnitude(target).mean())


def score_outputs(
    classifier: MNISTClassifier, output: torch.Tensor, target: torch.Tensor, labels: torch.Tensor
) -> dict[str, float]:
    """Every task metric of outputs (N, 1, 28, 28) against targets, with the true digits (N,)."""
    output_embedding = embed(classifier, output)
    target_embedding = embed(classifier, target)
    predicted = output_embedding.probabilities.argmax(dim=1)
    return {
        "psnr": psnr(output, target),
        "ssim": ssim(output, target),
        "fid_mnist": frechet_distance(output_embedding.features, target_embedding.features),
        "accuracy": float((predicted == labels.cpu()).float().mean()),
        "sharpness": sharpness(output, target),
    }


def translate_images(
    model, real: torch.Tensor, seed: int = 0, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, outputs, ground truth) for real digits (N, 1, 28, 28) in [-1, 1]: the inputs made
    with a seeded RNG (the same masks every time), the outputs by the model in eval mode."""
    inputs = model.make_inputs(real, torch.Generator().manual_seed(seed))
    outputs = torch.cat(
        [
            model.translate(inputs[i : i + batch_size]).cpu()
            for i in range(0, len(inputs), batch_size)
        ]
    )
    return inputs, outputs, model.ground_truth(real)
