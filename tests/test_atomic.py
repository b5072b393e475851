"""Files written whole or not at all (gan/atomic.py): their permissions and the folder's sync."""

from __future__ import annotations

import os
import stat

import pytest

from gan import atomic


@pytest.fixture
def umask():
    """Sets the process's umask for one test, then restores it."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_permissions_the_umask_gives(tmp_path, umask, mask, mode):
    """mkstemp creates 0600 files: a shared cache or checkpoint was unreadable to all but its
    writer. Now as `open()` would create it: 0666 less the umask."""
    umask(mask)
    assert atomic.current_umask() == mask
    atomic.write_json(tmp_path / "job.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "job.json").stat().st_mode) == mode
    (tmp_path / "plain").write_text("x")  # what any other file gets
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == mode


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(handle):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(handle).st_mode) else "fsync file")
        fsync(handle)

    def recording_replace(source, target):
        events.append("rename")
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    atomic.save_torch({"step": 1}, tmp_path / "last.ckpt")
    assert events == ["fsync file", "rename", "fsync folder"]
