"""gan.profile_step: where a step's time goes, for fast, fast with callbacks and plain-fast."""

from __future__ import annotations

import gc
import json

import pytest
import torch

from gan.profile_step import main, package_of, profile_way, tables

# Narrow networks; the metrics scored when the run stops (after the windows) kept small.
NARROW = ["model.generator.width=8", "model.discriminator.width=8", "data.metric_samples=200",
          "callbacks.overfitting.num_images=100"]  # fmt: skip


def test_files_are_put_in_their_packages():
    venv = "/x/.venv/lib/python3.11/site-packages"
    assert package_of(f"{venv}/lightning/pytorch/loops/fit_loop.py") == "lightning"
    assert package_of(f"{venv}/torch/optim/adam.py") == "torch"
    assert package_of("/work/main/gan/module.py") == "gan"
    assert package_of("~") == "builtins" and package_of("<frozen abc>") == "builtins"
    assert package_of("/usr/lib/python3.11/contextlib.py") == "other"


@pytest.mark.slow
def test_each_way_is_timed_profiled_and_attributed_to_its_packages(tmp_path):
    """On the CPU, in this process: the timed windows, the profiled window's operators, the
    host's time per package (the Trainer's ways spend some in lightning, the plain loop none),
    the collector frozen and unfrozen again."""
    results = [
        profile_way(
            way,
            "cpu",
            16,
            2,
            3,
            2,
            0,
            gc_mode,
            fast_overrides=NARROW,
            trace=tmp_path / f"{way}.json",
        )
        for way, gc_mode in [("fast", "on"), ("fast-callbacks", "frozen"), ("plain-fast", "on")]
    ]
    assert gc.get_freeze_count() == 0
    for r in results:
        assert r["ms_per_step"] > 0 and r["profile"]["operator_calls_per_step"] > 10
        assert r["profile"]["top_host_operators"][0]["name"].startswith(("aten::", "mkldnn"))
        assert r["profile"]["kernel_launches_per_step"] == 0  # no GPU here
        assert json.loads((tmp_path / f"{r['way']}.json").read_text())["traceEvents"]
    by_way = {r["way"]: r["host_ms_per_step_by_package"] for r in results}
    assert by_way["fast"]["lightning"] > 0 and by_way["fast-callbacks"]["lightning"] > 0
    assert by_way["plain-fast"].get("lightning", 0.0) == 0.0
    names = [f["function"] for f in results[0]["framework_functions"]]
    assert any("training_step" in name for name in names), names
    table = tables(results)
    assert "| fast-callbacks | frozen |" in table and "| plain-fast | on |" in table


@pytest.mark.slow
def test_the_driver_runs_each_way_in_a_worker_with_torch_logs(tmp_path, capsys):
    out = tmp_path / "profile.json"
    args = ["--device", "cpu", "--batch-size", "16", "--ways", "plain-fast", "--gc-modes", "frozen"]
    args += ["--warmup", "1", "--steps", "2", "--repeats", "1", "--out", str(out)]
    assert main([*args, "--fast-overrides", " ".join(NARROW)]) == 0
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert (result["way"], result["gc"], result["batch_size"]) == ("plain-fast", "frozen", 16)
    assert result["torch_logs"] == [] and report["machine"]["torch"] == torch.__version__
    assert "| plain-fast | frozen |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args", [["--ways", "fast,turbo"], ["--gc-modes", "off"], ["--steps", "0"]]
)
def test_bad_arguments_are_refused_by_name(args, capsys):
    with pytest.raises(SystemExit):
        main(args)
    assert "error:" in capsys.readouterr().err
