"""Files written whole or not at all.

`write_atomically` fills a temporary file in the target's own folder and renames it over the
target (`os.replace` is atomic on POSIX): a reader sees the old file or the new one, never half
of one, and a process killed midway leaves the old file and a `.<name>.<pid>.<random>.partial`
beside it, which the next write of that name removes once its process is gone. The file gets
the permissions any file the process creates gets (0666 less the umask: a cache or checkpoint
shared between users stays readable to them), and the folder is synced after the rename, so a
power cut cannot lose the new name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_partials(path: Path) -> None:
    """Delete what killed writes of `path` left beside it."""
    for stale in path.parent.glob(f".{path.name}.*.partial"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc), else by
    setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a crash (where the system allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(handle)


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Replace `path` by what `write(file)` writes, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    handle, partial = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".partial"
    )
    try:
        os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp's own is 0600
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def save_torch(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)`, whole or not at all."""
    write_atomically(path, lambda file: torch.save(obj, file))


def write_json(path: str | Path, record: Any) -> None:
    """`record` as indented JSON, whole or not at all."""
    text = json.dumps(record, indent=2) + "\n"
    write_atomically(path, lambda file: file.write(text.encode()))
