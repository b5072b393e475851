"""One live run per run folder.

Two runs given one `hydra.run.dir` (two seeds, say) would interleave their `metrics.csv`,
overwrite each other's checkpoints and `job.json`, and one of them would be silently lost. So a
run claims its folder: an exclusive `flock` on `<folder>/.run.lock`, which holds the claiming
process's pid, host and start time. A second run that finds the lock held stops in one line,
before it writes anything there. The kernel drops the lock when its process ends, however it
ends (SIGKILL included), so a stale file never blocks a later run; the file is left in place
(deleting it would let two processes lock two different files of one name).

Claims are counted per process, so Hydra's job callback (before the job's record is written) and
`train(cfg)` (for runs started in-process) can both claim the same folder.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from gan.config import ConfigError

LOCK_FILE = ".run.lock"
_held: dict[Path, tuple[IO[str], int]] = {}  # folder -> (the locked file, claims)


class RunFolderInUse(ConfigError):
    """Another live process holds the run folder."""


def claim(folder: str | Path) -> None:
    """Claim `folder` for this process's run; `RunFolderInUse` (one line) if another holds it."""
    folder = Path(folder).resolve()
    if folder in _held:
        handle, claims = _held[folder]
        _held[folder] = (handle, claims + 1)
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that left no details"
        handle.close()
        raise RunFolderInUse(
            f"the run folder {folder} is in use by another live run ({holder}): give each run "
            "its own folder (hydra.run.dir=..., or leave it to its default, a new folder per "
            "run)"
        ) from None
    handle.seek(0)
    handle.truncate()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n")
    handle.flush()
    _held[folder] = (handle, 1)


def release(folder: str | Path) -> None:
    """Give back one claim of `folder`; the lock goes with the last."""
    folder = Path(folder).resolve()
    if folder not in _held:
        return
    handle, claims = _held[folder]
    if claims > 1:
        _held[folder] = (handle, claims - 1)
        return
    del _held[folder]
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
