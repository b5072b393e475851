"""Bilinear `grid_sample` with a second derivative on every torch the project supports.

ADA's geometric transforms resample every image D sees, and R1 (StyleGAN2's lazy R1,
`loss.r1_gamma`) differentiates D's gradient with respect to the un-augmented real images: a
double backward through the resampling. torch 2.11 has no derivative for
`aten::grid_sampler_2d_backward` ("derivative for aten::grid_sampler_2d_backward is not
implemented", on an H200 and on the CPU); torch 2.14 has one. Here the first derivative is a
function of its own whose derivative is the resampling again: for a fixed grid, bilinear sampling
is a linear map A of the images, its input gradient is A^T applied to the output gradient, and
the derivative of that is A. StyleGAN2-ADA solves the same problem the same way (its
`grid_sample_gradfix`).

Only the images' second derivative is given, not the grid's: ADA's grids are drawn at random and
never need a gradient. A grid that requires one is passed to `F.grid_sample` as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BILINEAR = 0  # aten's interpolation_mode
PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2}


def grid_sample(images: torch.Tensor, grid: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """`F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode,
    align_corners=False)` for images (B, C, H, W) and a grid (B, H', W', 2); twice
    differentiable with respect to the images whatever torch's version."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r}: one of {sorted(PADDING_MODES)}")
    if grid.requires_grad:
        return F.grid_sample(
            images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False
        )
    return _Sample.apply(images, grid, PADDING_MODES[padding_mode])


class _Sample(torch.autograd.Function):
    """A: images (B, C, H, W) -> samples (B, C, H', W') at a fixed grid."""

    @staticmethod
    def forward(ctx, images: torch.Tensor, grid: torch.Tensor, padding: int) -> torch.Tensor:
        ctx.save_for_backward(images, grid)
        ctx.padding = padding
        return torch.grid_sampler_2d(images, grid, BILINEAR, padding, False)

    @staticmethod
    def backward(ctx, grad_samples: torch.Tensor):
        images, grid = ctx.saved_tensors
        return _SampleTranspose.apply(grad_samples, images, grid, ctx.padding), None, None


class _SampleTranspose(torch.autograd.Function):
    """A^T: output gradients (B, C, H', W') -> image gradients (B, C, H, W); its own derivative
    is A."""

    @staticmethod
    def forward(
        ctx, grad_samples: torch.Tensor, images: torch.Tensor, grid: torch.Tensor, padding: int
    ) -> torch.Tensor:
        ctx.save_for_backward(grid)
        ctx.padding = padding
        # Only the images' gradient (output_mask): its values do not depend on the images', as
        # bilinear sampling is linear in them, so A^T has no derivative with respect to them.
        grad_images, _ = torch.ops.aten.grid_sampler_2d_backward(
            grad_samples, images, grid, BILINEAR, padding, False, [True, False]
        )
        return grad_images

    @staticmethod
    def backward(ctx, grad_grad_images: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _Sample.apply(grad_grad_images, grid, ctx.padding), None, None, None
