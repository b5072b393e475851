"""Resume from a checkpoint taken inside an epoch: N batches straight equal k batches, a stop, and
N - k more resumed, bit for bit, on the DataLoader path and the device-data path, with the
default callbacks on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.data.sampling import DeviceBatches, EpochShuffleSampler, ResumableDataLoader
from gan.train import train

pytestmark = pytest.mark.slow

# 96 training images in batches of 16: 6 batches an epoch, two epochs; the stop after 4 batches
# (8 optimiser steps: Lightning counts G's and D's) is inside the first.
COMMON = ["data.limit_images=96", "data.batch_size=16", "trainer.limit_train_batches=1.0",
          "callbacks.metrics.num_samples=100", "seed=7"]  # fmt: skip


def _last(cfg) -> dict:
    return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)


def _assert_same_run(straight: dict, resumed: dict) -> None:
    for key in ("images_seen", "d_steps", "g_steps"):
        assert straight["gan"][key] == resumed["gan"][key], key
    differ = [
        k for k, v in straight["state_dict"].items() if not torch.equal(v, resumed["state_dict"][k])
    ]
    assert differ == [], (
        f"{len(differ)} of {len(straight['state_dict'])} tensors differ: {differ[:3]}"
    )
    for a, b in zip(straight["optimizer_states"], resumed["optimizer_states"], strict=True):
        for name in ("exp_avg", "exp_avg_sq"):
            assert all(torch.equal(a["state"][i][name], b["state"][i][name]) for i in a["state"])
    assert torch.equal(
        straight["gan"]["noise_rng_states"][0], resumed["gan"]["noise_rng_states"][0]
    )
    assert torch.equal(
        straight["gan"]["torch_rng_states"][0], resumed["gan"]["torch_rng_states"][0]
    )


@pytest.mark.parametrize(
    ("shrink", "overrides", "steps"),
    [
        ("gan", ["model=gan"], 8),  # the DataLoader path; dropout in D draws from the global RNG
        ("dcgan", ["model=dcgan", "data.on_device=true"], 8),  # the device-data path
        ("dcgan", ["model=dcgan", "loss.n_critic=3"], 5),  # G steps after batches 3 and 6
    ],
)
def test_a_run_stopped_inside_an_epoch_resumes_where_it_stopped(
    make_cfg, tmp_path, shrink, overrides, steps
):
    """`trainer.max_steps` stops the first run after its fourth batch (Lightning counts every
    optimiser step: D's and G's)."""

    def run(*extra: str, out: str):
        return make_cfg(*COMMON, *overrides, *extra, shrink=shrink, output_dir=tmp_path / out)

    straight = run("trainer.max_epochs=2", out="straight")
    train(straight)
    first = run("trainer.max_epochs=2", f"+trainer.max_steps={steps}", out="first")
    metrics = train(first)
    assert metrics["d_steps"] == 4  # stopped inside epoch 1 of 2
    stopped = _last(first)
    assert stopped["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 0
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = run("trainer.max_epochs=2", f"ckpt_path={ckpt}", "seed=999", out="resumed")
    assert train(resumed)["d_steps"] == 12  # 4 + the first epoch's last 2 + the second's 6
    _assert_same_run(_last(straight), _last(resumed))


def test_the_loaders_hand_out_the_rest_of_an_epoch_after_a_restore():
    """Both loaders, restored to 2 batches into epoch 3, give that epoch's batches 3 to 6; the
    next epoch is whole again."""
    images = torch.arange(24, dtype=torch.uint8)[:, None, None, None]  # (24, 1, 1, 1)
    labels = torch.arange(24)
    for make in (
        lambda sampler: ResumableDataLoader(
            torch.utils.data.TensorDataset(images, labels), batch_size=4, sampler=sampler,
            drop_last=True,
        ),
        lambda sampler: DeviceBatches(images, labels, sampler, 4, "cpu"),
    ):  # fmt: skip
        whole = make(EpochShuffleSampler(24, seed=5))
        whole.sampler.set_epoch(3)
        epoch = [batch[1].tolist() for batch in whole]
        assert whole.state_dict() == {"epoch": 3, "batches": 6}
        restored = make(EpochShuffleSampler(24, seed=5))
        restored.load_state_dict({"epoch": 3, "batches": 2})
        restored.sampler.set_epoch(3)
        assert [batch[1].tolist() for batch in restored] == epoch[2:]
        assert restored.state_dict() == {"epoch": 3, "batches": 6}
        restored.sampler.set_epoch(4)
        assert len(list(restored)) == 6
