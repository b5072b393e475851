"""notebooks/explore.ipynb runs end to end on a checkpoint made here, and is committed stripped."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from gan.explore import by_class, find_checkpoint, interpolation, slerp, w_interpolation
from gan.sample import load_model_and_classes
from gan.train import train

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore.ipynb"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    tags = [cell.metadata.get("tags", []) for cell in code]
    assert sum("parameters" in t for t in tags) == 1


def test_slerp_ends_at_both_points_and_keeps_the_norm_of_orthogonal_points():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = slerp(z0, z1, 5)  # (5, 2)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=1), torch.full((5,), 3.0))
    torch.testing.assert_close(slerp(z0, 2 * z0, 3)[1], 1.5 * z0)  # parallel: a straight line


def test_rows_by_class_only_for_at_most_ten_classes_it_can_tell_apart():
    unconditional = SimpleNamespace(num_classes=None, latent_dim=4)
    assert by_class(unconditional, None, 10) == (None, None)  # no classifier (CIFAR-10)
    assert by_class(unconditional, None, None) == (None, None)  # unlabelled (a folder)
    conditional = SimpleNamespace(num_classes=1000, latent_dim=4)
    assert by_class(conditional, None, 1000) == (None, None)  # Stacked MNIST's modes


def test_find_checkpoint_picks_the_newest_last_ckpt(tmp_path):
    with pytest.raises(FileNotFoundError, match="train a model first"):
        find_checkpoint(root=tmp_path)
    old = tmp_path / "outputs/a/checkpoints/last.ckpt"
    new = tmp_path / "multirun/b/0/checkpoints/last.ckpt"
    for path, mtime in ((old, 1_000), (new, 2_000)):
        path.parent.mkdir(parents=True)
        path.touch()
        os.utime(path, (mtime, mtime))
    assert find_checkpoint(root=tmp_path) == new
    assert find_checkpoint(old, root=tmp_path) == old


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "logger"), [("dcgan", "wandb"), ("cdcgan", "csv"), ("stylegan2", "csv")]
)
def test_explore_notebook_runs_on_a_fresh_checkpoint(make_cfg, model, logger):
    cfg = make_cfg(f"model={model}", f"logger={logger}")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"

    # The helpers' shapes: conditional models get one row per digit.
    loaded, space, num_classes = load_model_and_classes(ckpt)
    assert num_classes == 10 and (space is None) == bool(loaded.num_classes)
    rows = 10 if loaded.num_classes else 1
    assert interpolation(loaded, steps=4).shape == (rows * 4, 1, 28, 28)
    if model == "stylegan2":
        assert w_interpolation(loaded, steps=4).shape == (4, 1, 28, 28)
        g = loaded.sampling_generator.eval()
        z = torch.randn(2, loaded.latent_dim, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            halfway = g.image(g.ws(z).mean(dim=0, keepdim=True))  # (1, 1, 28, 28): the mean w
        assert torch.allclose(w_interpolation(loaded, steps=3)[1], halfway[0], atol=1e-5)
    else:
        with pytest.raises(ValueError, match="no mapping network, so no w space"):
            w_interpolation(loaded)
    images, counts = by_class(loaded, space, num_classes, per_class=3, draws=50)
    assert images.shape == (30, 1, 28, 28)
    assert (counts is None) == bool(loaded.num_classes)
    assert counts is None or counts.sum() == 50

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = f"ckpt_path = {str(ckpt)!r}\nseed = 1\ninterpolation_steps = 4"
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": "."}}
    ).execute()

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    figures = [out for out in outputs if "image/png" in out.get("data", {})]
    # grid, interpolation (in z, and in w for StyleGAN2), digit rows, curves
    assert len(figures) == (5 if model == "stylegan2" else 4)
    text = "".join(out.get("text", "") for out in outputs)
    assert f"({'conditional' if loaded.num_classes else 'unconditional'})" in text
    tables = [
        out["data"]["text/markdown"] for out in outputs if "text/markdown" in out.get("data", {})
    ]
    assert "| images_seen |" in tables[-1]
