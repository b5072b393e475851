"""DDP: data sharding, per-rank noise, the launcher guard, and a real 2-process CPU run."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from gan.config import ConfigError, check_launcher
from gan.data import EpochShuffleSampler
from tests.conftest import TINY_CLI, compose_config, run_cli


def test_sampler_shares_each_epoch_out_between_ranks_without_overlap():
    ranks = [list(EpochShuffleSampler(11, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # equal steps on every process
    assert not set(ranks[0]) & set(ranks[1])
    whole = list(EpochShuffleSampler(11, seed=3))
    assert ranks[0] + ranks[1] == whole[0:10:2] + whole[1:10:2]  # the single-process order, dealt
    with pytest.raises(ValueError, match="rank=2"):
        EpochShuffleSampler(11, seed=3, num_replicas=2, rank=2)


def test_every_rank_draws_different_training_noise(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg()
    noise = []
    for rank in (0, 1):
        torch.manual_seed(0)
        model = instantiate(cfg.model)
        model._trainer = SimpleNamespace(global_rank=rank, world_size=2)
        noise.append(model.sample_noise(4))
    assert not torch.equal(noise[0], noise[1])
    model.count_step_images(16)
    assert model.images_seen == 32  # images of both processes


def test_multi_process_trainer_is_refused_in_a_basic_multirun(tmp_path):
    cfg = compose_config(["trainer=ddp_cpu"], tmp_path, mode="MULTIRUN")
    with pytest.raises(ConfigError, match="hydra/launcher=slurm"):
        check_launcher(cfg)
    check_launcher(compose_config(["trainer=ddp_cpu"], tmp_path))  # a single run is fine


@pytest.mark.slow
def test_ddp_cpu_keeps_both_ranks_identical(tmp_path):
    run_dir, dumps = tmp_path / "run", tmp_path / "ranks"
    result = run_cli(
        "trainer=ddp_cpu", *TINY_CLI, "trainer.limit_train_batches=3", "logger=csv",
        f"hydra.run.dir={run_dir}", f"+callbacks.rank_consistency.dump_dir={dumps}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr

    rank0, rank1 = (torch.load(dumps / f"rank_{r}.pt") for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # G, D and the EMA generator, bit for bit
        assert torch.equal(rank0[name], rank1[name]), name
    assert any(name.startswith("generator_ema.") for name in rank0)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["train/loss_d"]) and math.isfinite(metrics["train/loss_g"])
    assert metrics["ddp/param_max_abs_diff"] == 0.0
    assert metrics["d_steps"] == metrics["g_steps"] == 3
    assert metrics["images_seen"] == 3 * 8 * 2  # steps x batch x processes
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch_000.png", "final.png"]
