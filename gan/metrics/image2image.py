"""Metrics of image-to-image outputs against their ground truth: PSNR, SSIM (torchmetrics),
FID-MNIST of the outputs against the ground-truth images, the MNIST classifier's accuracy on the
outputs (does the digit keep its identity?) and sharpness; on photos (`score_photo_outputs`),
PSNR, SSIM and sharpness where a target exists, and Inception FID and KID of the outputs against
the target domain's test images.

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

from gan.data.tensors import as_unit_range
from gan.metrics.classifier import MNISTClassifier, embed
from gan.metrics.inception import InceptionFeatures
from gan.metrics.scores import frechet_distance, kernel_distance


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


def score_photo_outputs(
    inception: InceptionFeatures,
    output: torch.Tensor,
    target: torch.Tensor | None,
    target_domain: torch.Tensor,
) -> dict[str, float]:
    """Outputs (N, C, R, R) in [-1, 1] against their targets, when there are (PSNR, SSIM,
    sharpness), and against the target domain's images (Inception FID and KID, in the project's
    Inception at the data's resolution, resized TF1's way). With a few hundred images both
    distances are dominated by their bias: compare them between models scored on the same
    images, never with published values."""
    scores = {}
    if target is not None:
        scores |= {
            "psnr": psnr(output, target),
            "ssim": ssim(output, target),
            "sharpness": sharpness(output, target),
        }
    output_features, target_features = inception(output), inception(target_domain)
    kid, _ = kernel_distance(output_features, target_features, subset_size=min(1000, len(output)))
    return scores | {
        "fid_inception": frechet_distance(output_features, target_features),
        "kid_inception": kid,
    }


def task_examples(
    datamodule, model, n: int, split: str = "val"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """What a task is scored on: the first `n` images of `split` (N, C or 2C, R, R) in [-1, 1]
    that G's inputs are made from, their labels, their true outputs (None where the data has
    none: unpaired folders without name twins) and the target domain's images (the truth, or the
    other domain's test images) that the outputs' distribution is compared with."""
    dataset = getattr(datamodule, f"{split}_set")
    n = min(n, len(dataset))
    real, labels = as_unit_range(dataset.images[:n]), dataset.labels[:n]
    if hasattr(datamodule, "val_truth"):  # two domains: the data holds the truth, if any
        truth = datamodule.val_truth
        truth = None if truth is None else as_unit_range(truth[:n])
        domain = truth if truth is not None else as_unit_range(datamodule.target_set.images[:n])
        return real, labels, truth, domain
    truth = model.ground_truth(real)
    return real, labels, truth, truth


def translate_images(
    model, real: torch.Tensor, seed: int = 0, pixels_per_batch: int = 500 * 28 * 28
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, outputs, ground truth) for real images (N, C, R, R) in [-1, 1]: the inputs made
    with a seeded RNG (the same masks every time), the outputs by the model in eval mode, in
    batches of about `pixels_per_batch` pixels (500 digits, 6 images of 256 px)."""
    inputs = model.make_inputs(real, torch.Generator().manual_seed(seed))
    batch_size = max(1, pixels_per_batch // (real.shape[-1] * real.shape[-2]))
    outputs = torch.cat(
        [
            model.translate(inputs[i : i + batch_size]).cpu()
            for i in range(0, len(inputs), batch_size)
        ]
    )
    return inputs, outputs, model.ground_truth(real)
