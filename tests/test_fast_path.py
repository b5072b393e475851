"""The fast path: device-resident data, channels-last, torch.compile, bf16, and the benchmark."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

import gan.bench
import gan.config
import gan.losses
from gan.bench import main as bench_main
from gan.data import DeviceBatches, EpochShuffleSampler, ImageTensorDataset
from gan.train import train
from tests.conftest import SMALL, compose_config


def test_device_batches_are_the_dataloader_batches_in_the_same_order():
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (50,))
    batches = []
    for fast in (False, True):
        sampler = EpochShuffleSampler(50, seed=7)
        sampler.set_epoch(3)
        if fast:
            loader = DeviceBatches(images, labels, sampler, batch_size=8, device="cpu")
        else:
            loader = DataLoader(
                ImageTensorDataset(images, labels), 8, sampler=sampler, drop_last=True
            )
        batches.append(list(loader))
    assert len(batches[0]) == len(batches[1]) == 6  # 50 // 8: the last partial batch dropped
    for (x0, y0), (x1, y1) in zip(*batches, strict=True):
        assert x1.shape == (8, 1, 28, 28) and x1.dtype == torch.float32
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


@pytest.mark.slow
def test_device_data_path_trains_exactly_like_the_dataloader_path(make_cfg, tmp_path):
    runs = [
        train(make_cfg(f"data.on_device={on}", output_dir=tmp_path / str(on)))
        for on in (False, True)
    ]
    assert runs[0]["images_seen"] == runs[1]["images_seen"] == 4 * 16
    data = instantiate(make_cfg("data.on_device=true").data)
    data.setup("fit")
    assert isinstance(data.train_dataloader(), DeviceBatches)  # the option took effect
    for key in ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"):
        assert runs[0][key] == runs[1][key], key


@pytest.mark.slow
def test_channels_last_lays_out_the_discriminator_and_changes_only_rounding(make_cfg, tmp_path):
    runs = [
        train(make_cfg(f"model.channels_last={on}", output_dir=tmp_path / str(on)))
        for on in (False, True)
    ]
    for key in ("train/loss_d", "train/loss_g"):
        assert runs[1][key] == pytest.approx(runs[0][key], rel=1e-3), key
    model = instantiate(make_cfg("model.channels_last=true").model)
    model.setup("fit")
    weights = [p for p in model.discriminator.parameters() if p.dim() == 4]  # convolution kernels
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    # G keeps the default layout (see GAN's channels_last).
    assert all(p.is_contiguous() for p in model.generator.parameters())


@pytest.mark.slow
def test_compiled_networks_train_and_keep_their_checkpoint_keys(make_cfg):
    cfg = make_cfg("model.compile_mode=default", "trainer.limit_train_batches=3")
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_d"]) and math.isfinite(metrics["train/loss_g"])
    model = instantiate(cfg.model)
    model.setup("fit")
    assert model.generator._compiled_call_impl is not None  # compiled in place
    assert model.discriminator._compiled_call_impl is not None
    checkpoint = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    keys = checkpoint["state_dict"].keys()
    assert "generator.net.0.weight" in keys and not any("_orig_mod" in k for k in keys)


def test_unknown_compile_mode_is_refused_by_name(make_cfg):
    with pytest.raises(Exception, match="compile_mode='fastest'"):
        instantiate(make_cfg("model.compile_mode=fastest").model)


def test_fast_cpu_uses_bf16_only_where_the_cpu_has_amx(tmp_path, monkeypatch):
    """AVX512-BF16 without AMX trains bf16 slower than fp32 (docs/speed.md): fp32 there."""
    for amx, native, expected in (
        (True, True, "bf16-mixed"),
        (False, True, "32-true"),
        (False, False, "32-true"),
    ):
        monkeypatch.setattr(gan.config, "cpu_amx", lambda amx=amx: amx)
        monkeypatch.setattr(gan.config, "native_cpu_bf16", lambda native=native: native)
        cfg = compose_config(["fast=cpu"], tmp_path)
        assert cfg.trainer.precision == expected
        assert cfg.data.on_device and cfg.model.channels_last


def test_fast_gpu_config_asks_for_fused_adam_and_cudnn_benchmark(tmp_path):
    cfg = compose_config(["fast=gpu"], tmp_path)
    assert cfg.model.optimizer_g.fused and cfg.model.optimizer_d.fused
    assert cfg.trainer.benchmark and cfg.trainer.accelerator == "gpu"
    assert cfg.model.compile_mode == "default"


@pytest.mark.slow
def test_bench_measures_every_way_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["--device", "cpu", "--models", "dcgan", "--batch-sizes", "32"]
    args += ["--warmup", "1", "--steps", "2", "--repeats", "2"]
    args += ["--fast-overrides", "model.compile_mode=null", "--out", str(out)]
    assert bench_main(args) == 0
    report = json.loads(out.read_text())
    assert [r["way"] for r in report["results"]] == ["plain", "lightning", "fast", "plain-fast"]
    for result in report["results"]:
        assert result["batch_size"] == 32 and result["images_per_s"] > 0
        assert len(result["window_images_per_s"]) == 2
        assert result["peak_memory_mb"] > 0
    assert report["machine"]["torch"] == torch.__version__
    assert "| dcgan | 32 | fast |" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("way", ["plain", "plain-fast"])
def test_the_plain_loops_run_stylegan2s_lazy_steps(way, monkeypatch):
    """The hand-written loops with StyleGAN2's regime (in this process: the ways under the
    Trainer are the project's own path, tested elsewhere): R1 after D steps 0 and 4, path
    length after G steps 0, 2 and 4, as the module runs them."""
    calls = []
    r1, path_length = gan.losses.r1_penalty, gan.losses.PathLengthPenalty.forward

    def counted(name, function):
        return lambda *args, **kwargs: calls.append(name) or function(*args, **kwargs)

    monkeypatch.setattr(gan.losses, "r1_penalty", counted("r1", r1))
    monkeypatch.setattr(gan.losses.PathLengthPenalty, "forward", counted("pl", path_length))
    recipe = ["experiment=stylegan2_small", *SMALL["stylegan2"], "loss.r1_interval=4"]
    recipe += ["model.path_length.interval=2"]
    monkeypatch.setitem(gan.bench.MODELS, "stylegan2", (recipe, 8))
    result = gan.bench.run_way(way, "cpu", 8, 1, 2, 2, 0, model="stylegan2")
    assert result["model"] == "stylegan2" and result["images_per_s"] > 0
    assert calls.count("r1") == 2 and calls.count("pl") == 3  # over 5 batches


def test_bench_runs_each_model_at_its_own_batch_size_unless_told():
    from gan.bench import parse_args

    assert parse_args([]).runs == [("dcgan", 128), ("stylegan2", 32)]
    assert parse_args(["--models", "stylegan2_cifar10"]).runs == [("stylegan2_cifar10", 64)]
    told = parse_args(["--models", "dcgan,stylegan2", "--batch-sizes", "16,64"]).runs
    assert told == [("dcgan", 16), ("dcgan", 64), ("stylegan2", 16), ("stylegan2", 64)]


@pytest.mark.parametrize(
    "args",
    [["--ways", "plain,turbo"], ["--batch-sizes", "64,x"], ["--steps", "0"], ["--models", "sg3"]],
)
def test_bench_refuses_bad_arguments(args, capsys):
    with pytest.raises(SystemExit):
        bench_main(args)
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("fast", ["cpu", "gpu"])
def test_the_fast_group_sets_only_speed_options(tmp_path, fast):
    """experiment=tutorial draws fresh noise for the G step; fast=... must not undo it."""
    tutorial = compose_config(["experiment=tutorial"], tmp_path)
    both = compose_config(["experiment=tutorial", f"fast={fast}"], tmp_path)
    assert tutorial.model.fresh_noise_for_g is True
    assert both.model.fresh_noise_for_g is True


@pytest.mark.slow
def test_bench_times_inception_fast_path_beside_the_reference(capsys):
    assert bench_main(["--worker", "inception", "--device", "cpu", "--inception-images", "4"]) == 0
    timing = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert timing["n_images"] == 4 and "eager" in timing["source"]
    assert timing["fast"]["images_per_s"] > 0 and timing["reference"]["images_per_s"] > 0
    assert timing["fast"]["max_relative_difference_to_reference"] < 1e-4
    assert timing["speed-up"] == pytest.approx(
        timing["reference"]["seconds"] / timing["fast"]["seconds"]
    )
