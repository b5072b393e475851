"""requirements.lock: every dependency pinned with hashes, and the environment the tests run in
installed from it (make install)."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"


def locked() -> dict[str, tuple[str, int]]:
    """{package: (version, number of hashes)} of the lock's entries for this Python and
    platform."""
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        first = block.splitlines()[0].rstrip(" \\")
        if first.startswith("#"):
            continue
        spec, _, marker = first.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, version = spec.strip().split("==")
        entries[canonicalize_name(name)] = (version, block.count("--hash=sha256:"))
    return entries


def test_every_dependency_is_pinned_with_its_hashes():
    wanted = metadata.requires("gan")  # pyproject.toml's dependencies and extras, as installed
    entries = locked()
    for requirement in map(Requirement, wanted):
        if requirement.name == "gan":  # the project's own extras
            continue
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is not in requirements.lock"
        version, hashes = entries[name]
        assert requirement.specifier.contains(version), (name, version, requirement.specifier)
        assert hashes >= 1, f"{name} has no hash"
    assert entries["torch"][0] == "2.14.1" and "make lock" in LOCK.read_text()[:200]


def test_the_environment_is_the_lock():
    """Every locked package is installed at its locked version (make install, as CI runs it)."""
    differ = {}
    for name, (version, _) in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != version.split("+")[0]:
            differ[name] = (installed, version)
    assert differ == {}
