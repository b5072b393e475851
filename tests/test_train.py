"""train(cfg) on real MNIST: outputs, resume, configs, multirun, wandb, bad input."""

from __future__ import annotations

import csv
import functools
import json
import math
from pathlib import Path

import pytest
import torch

from gan.config import ConfigError
from gan.history import wandb_history
from gan.train import train
from tests.conftest import CONFIG_DIR, run_cli

pytestmark = pytest.mark.slow

MODELS = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.yaml"))
LOSSES = sorted(p.stem for p in (CONFIG_DIR / "loss").glob("*.yaml"))


def test_short_run_writes_grids_checkpoint_and_finite_losses(make_cfg):
    cfg = make_cfg()
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "samples" / "epoch_000.png").is_file()
    assert (run / "samples" / "final.png").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert (metrics["d_steps"], metrics["g_steps"], metrics["images_seen"]) == (4, 4, 64)
    with open(run / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r[k]) for r in rows for k in ("train/loss_d", "train/loss_g") if r.get(k)]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)


def _final_state(cfg) -> dict:
    train(cfg)
    checkpoint = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True
    )
    return checkpoint


@pytest.mark.parametrize(
    ("shrink", "overrides"),
    [
        ("dcgan", ["model=dcgan", "loss.n_critic=2"]),
        ("gan", ["model=gan", "loss.n_critic=2"]),  # dropout in D: the global RNG
        ("dcgan", ["experiment=wgan_gp", "loss.n_critic=2"]),  # penalty interpolation weights
        ("dcgan", ["data=stacked_mnist", "data.num_images=1000", "data.num_eval_images=300"]),
        ("dcgan", ["augment=diffaugment"]),  # the augmentation's draws
        ("pix2pix", ["task=inpaint", "model.corruption.kind=boxes"]),  # random masks
        ("cyclegan", ["task=translate"]),  # two loaders
    ],
)
def test_resume_gives_the_same_networks_as_an_uninterrupted_run(
    make_cfg, tmp_path, shrink, overrides
):
    """One epoch, then two more resumed in a new process state, against three in one go, with
    the metrics callback on (it builds the MNIST classifier after the first epoch)."""
    common = [*overrides, "trainer.limit_train_batches=3"]
    run = functools.partial(make_cfg, shrink=shrink)
    straight = _final_state(run(*common, "trainer.max_epochs=3", output_dir=tmp_path / "a"))
    first = run(*common, "trainer.max_epochs=1", output_dir=tmp_path / "b1")
    train(first)
    resumed = _final_state(
        run(
            *common,
            "trainer.max_epochs=3",
            f"ckpt_path={Path(first.paths.output_dir) / 'checkpoints' / 'last.ckpt'}",
            "seed=999",  # everything that matters must come from the checkpoint
            output_dir=tmp_path / "b2",
        )
    )
    assert straight["epoch"] == resumed["epoch"] == 2
    for key in ("images_seen", "d_steps", "g_steps"):
        assert straight["gan"][key] == resumed["gan"][key]
    assert straight["state_dict"].keys() == resumed["state_dict"].keys()
    differ = [
        k for k, v in straight["state_dict"].items() if not torch.equal(v, resumed["state_dict"][k])
    ]
    assert differ == []
    for a, b in zip(straight["optimizer_states"], resumed["optimizer_states"], strict=True):
        assert torch.equal(a["state"][0]["exp_avg"], b["state"][0]["exp_avg"])


def test_best_checkpoint_is_the_best_over_the_whole_resumed_run(make_cfg, tmp_path):
    """best.ckpt of a resumed run is the best epoch of the first run and the resumed one
    together. Monitored here: the fewest images seen, so the first run's only epoch is the best
    and the resumed run must carry it (score, path, file) instead of starting afresh."""
    common = [
        "trainer.limit_train_batches=3",
        "callbacks.best_checkpoint.monitor=train/images_seen",
        "callbacks.best_checkpoint.mode=min",
    ]
    first = make_cfg(*common, "trainer.max_epochs=1", output_dir=tmp_path / "first")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cfg(
        *common, "trainer.max_epochs=3", f"ckpt_path={last}", output_dir=tmp_path / "resumed"
    )
    train(resumed)
    best_path = tmp_path / "resumed" / "checkpoints" / "best.ckpt"
    best = torch.load(best_path, weights_only=True)
    assert best["epoch"] == 0 and best["gan"]["images_seen"] == 3 * 16
    resumed_last = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [v for k, v in resumed_last["callbacks"].items() if "train/images_seen" in k]
    assert float(state["best_model_score"]) == 3 * 16
    assert Path(state["best_model_path"]) == best_path


def test_experiments_compose(make_cfg):
    tutorial = make_cfg("experiment=tutorial", shrink="gan")
    assert tutorial.model.generator._target_ == "gan.nets.MLPGenerator"
    assert tutorial.model.optimizer_g.lr == tutorial.model.optimizer_d.lr == 0.002
    assert list(tutorial.model.optimizer_d.betas) == [0.9, 0.999]
    assert tutorial.model.fresh_noise_for_g and not tutorial.loss.from_logits
    assert make_cfg("experiment=dcgan").model.generator._target_ == "gan.nets.DCGANGenerator"


def test_tutorial_experiment_trains(make_cfg):
    metrics = train(make_cfg("experiment=tutorial", shrink="gan"))
    assert math.isfinite(metrics["train/loss_g"])


def test_wandb_offline_keeps_metrics_and_images_in_the_run_dir(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    cfg = make_cfg("logger=wandb")
    train(cfg)
    (run_dir,) = (Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    rows = wandb_history(run_file)
    losses = [row[k] for row in rows for k in ("train/loss_d", "train/loss_g") if k in row]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    images = [name for row in rows for name in row.get("samples/filenames", [])]
    assert images and all((run_dir / "files" / name).is_file() for name in images)


def test_multirun_runs_every_combination(tmp_path):
    result = run_cli(
        "-m",
        "model=gan,dcgan",
        "debug=smoke",
        "trainer.limit_train_batches=2",
        "data.batch_size=8",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,  # works from any directory
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/metrics.json"))
    assert jobs == ["0", "1"]
    targets = [(tmp_path / j / ".hydra" / "overrides.yaml").read_text() for j in jobs]
    assert "model=gan" in targets[0] and "model=dcgan" in targets[1]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.optimizer_g.lr=0", "model.optimizer_g.lr"),
        ("model.optimizer_d.lr=-1e-3", "model.optimizer_d.lr"),
        ("data.batch_size=0", "data.batch_size"),
        ("model.generator.latent_dim=64", "model.generator.latent_dim"),
        ("loss.n_critic=0", "loss.n_critic"),
    ],
)
def test_invalid_values_are_caught_before_training(make_cfg, override, key):
    cfg = make_cfg(override)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_missing_and_corrupt_checkpoints_are_refused(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        train(make_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}"))
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        train(make_cfg(f"ckpt_path={corrupt}"))
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(ConfigError, match="not a checkpoint of this project"):
        train(make_cfg(f"ckpt_path={foreign}"))


@pytest.mark.parametrize(("group", "choices"), [("model", MODELS), ("loss", LOSSES)])
def test_unknown_choice_exits_non_zero_listing_the_choices(tmp_path, group, choices):
    result = run_cli(f"{group}=nope", cwd=tmp_path)
    assert result.returncode != 0
    assert f"Could not find '{group}/nope'" in result.stderr
    assert all(f"\t{choice}\n" in result.stderr for choice in choices)


def test_cli_bad_value_is_one_clear_line_not_a_traceback(tmp_path):
    result = run_cli("data.batch_size=0", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: data.batch_size=0 is invalid: an integer >= 1" in result.stderr
    assert "Traceback" not in result.stderr
