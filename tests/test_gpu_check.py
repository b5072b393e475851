"""`make gpu-check` on a machine without a GPU, and how it records failing and slow steps."""

from __future__ import annotations

import json
import sys

import pytest

from gan import gpu_check
from gan.gpu_check import NO_GPU, Step


def read_report(out) -> dict:
    return json.loads((out / "gpu_check.json").read_text())


@pytest.mark.slow
def test_without_a_gpu_the_check_passes_and_says_what_it_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    report = read_report(tmp_path)
    steps = {step["key"]: step for step in report["steps"]}
    assert list(steps) == list(gpu_check.STEP_KEYS)
    assert report["environment"]["cuda_available"] is False
    for key in ("profile", "epoch", "bench", "bench-large", "inception", "bench-stylegan2"):
        assert steps[key]["status"] == "skipped" and steps[key]["note"] == NO_GPU
    # The gpu tests are collected and run: without CUDA every one of them is skipped.
    assert steps["tests"]["status"] == "passed"
    assert steps["tests"]["note"].startswith(NO_GPU) and "skipped" in steps["tests"]["note"]
    assert "== gpu tests" in (tmp_path / "gpu_check.log").read_text()


def test_failed_and_timed_out_steps_fail_the_check(tmp_path, monkeypatch, capsys):
    python = [sys.executable, "-c"]
    steps = [
        Step("epoch", "exits 3", [*python, "import sys; print('boom'); sys.exit(3)"], 20),
        Step("bench", "too slow", [*python, "import time; print('started'); time.sleep(20)"], 1),
        Step("inception", "prints figures", [*python, "print('{\"images_per_s\": 5}')"], 20),
    ]
    monkeypatch.setattr(gpu_check, "plan", lambda *args: steps)
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_check, "environment", lambda: {"gpu": "a test GPU"})
    assert gpu_check.main(["--out", str(tmp_path), "--only", "epoch,bench,inception"]) == 1
    report = read_report(tmp_path)
    failed, slow, fine = report["steps"]
    assert (failed["status"], failed["note"]) == ("failed", "boom")
    assert slow["status"] == "timed out" and slow["note"] == "(killed after 1 s)"
    assert "started" in (tmp_path / "gpu_check.log").read_text()  # output kept up to the kill
    assert fine["status"] == "passed" and fine["figures"] == {"images_per_s": 5}
    assert "2 of 3 steps failed (GPU: a test GPU)" in capsys.readouterr().out


def test_a_step_that_would_outrun_the_budget_is_skipped(tmp_path, monkeypatch):
    steps = [Step("epoch", "sleeps", [sys.executable, "-c", "import time; time.sleep(3)"], 60)]
    monkeypatch.setattr(gpu_check, "plan", lambda *args: steps)
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_check, "environment", lambda: {"gpu": "a test GPU"})
    assert gpu_check.main(["--out", str(tmp_path), "--only", "epoch", "--budget-s", "5"]) == 0
    (step,) = read_report(tmp_path)["steps"]
    assert step["status"] == "skipped" and "left of the check's budget" in step["note"]


def test_unknown_steps_are_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--only", "epoch,warp"])
    assert "unknown steps ['warp']" in capsys.readouterr().err
