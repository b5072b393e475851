"""One live run per run folder (gan/run_folder.py): a second run in a held folder stops in one
line, before it writes anything there; the lock goes with its process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gan import run_folder
from gan.train import train
from tests.conftest import run_cli


@pytest.fixture
def held(tmp_path):
    """A folder claimed by another live process (a run in progress)."""
    folder = tmp_path / "run"
    code = "import sys, time; from gan import run_folder; run_folder.claim(sys.argv[1]); "
    code += "print('held', flush=True); time.sleep(300)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    yield folder, holder
    holder.kill()
    holder.wait()


def test_a_held_folder_is_refused_by_name_and_freed_when_its_process_ends(held):
    folder, holder = held
    in_use = f"in use by another live run \\(pid {holder.pid} on"
    with pytest.raises(run_folder.RunFolderInUse, match=in_use):
        run_folder.claim(folder)
    with pytest.raises(run_folder.RunFolderInUse):
        run_folder.claim(folder)  # still held: nothing was taken by the failed claim
    holder.kill()  # SIGKILL: no clean-up of its own
    holder.wait()
    run_folder.claim(folder)  # a killed holder leaves a file, not a lock
    run_folder.claim(folder)  # claims by one process are counted
    run_folder.release(folder)
    run_folder.release(folder)
    assert folder.resolve() not in run_folder._held


@pytest.mark.slow
def test_train_refuses_a_folder_another_run_holds(make_cfg, held):
    folder, holder = held
    with pytest.raises(run_folder.RunFolderInUse, match=f"pid {holder.pid}"):
        train(make_cfg(output_dir=folder))
    assert not (folder / "checkpoints" / "last.ckpt").exists()
    assert folder.resolve() not in run_folder._held


@pytest.mark.slow
def test_a_second_run_in_one_hydra_run_dir_stops_in_one_line_leaving_the_first(held, tmp_path):
    folder, _ = held
    (folder / "job.json").write_text(json.dumps({"status": "running", "overrides": ["seed=1"]}))
    result = run_cli("seed=2", "debug=smoke", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: the run folder {folder} is in use by another live run")
    assert "Traceback" not in result.stderr
    record = json.loads((folder / "job.json").read_text())
    assert record == {"status": "running", "overrides": ["seed=1"]}  # the first run's, untouched
    assert not (folder / "csv").exists() and not (folder / "checkpoints").exists()
