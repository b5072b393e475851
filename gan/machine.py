"""The machine a run or benchmark ran on, named as every figure must be: the CPU by its model
name (`platform.processor()` is only "x86_64" on Linux), family and model, its vector instruction
set, whether it computes bfloat16 natively and has AMX (what `fast=cpu` picks its precision by),
the threads torch uses, and the GPU where CUDA is in use."""

from __future__ import annotations

import platform
from importlib import metadata

import torch

from gan.config import cpu_amx, native_cpu_bf16


def _cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ({} where there is none: not Linux)."""
    fields = {}
    try:
        with open(path) as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break  # the end of the first processor's block
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo on Linux; elsewhere what `platform` knows."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """ "family F model M" from /proc/cpuinfo (lscpu's CPU family and Model), which tells apart
    the generations behind one model name ("AMD EPYC" is Zen 3 without AVX-512 and Zen 4 with
    it); None where /proc/cpuinfo does not say."""
    fields = _cpuinfo(cpuinfo)
    if "cpu family" not in fields or "model" not in fields:
        return None
    return f"family {fields['cpu family']} model {fields['model']}"


def describe() -> dict:
    """The CPU, its family and model, its instruction set, native bfloat16, AMX, torch's threads
    and version; the GPU only when CUDA is already initialised (naming it would initialise CUDA,
    which a process that will fork workers must not do)."""
    info = {
        "cpu": cpu_name(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_cpu_bf16(),
        "amx": cpu_amx(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_initialized():
        info["gpu"] = torch.cuda.get_device_name()
    return info


# The packages whose versions decide what a run computes, recorded in every job.json.
RECORDED_PACKAGES = ("torch", "torchvision", "lightning", "hydra-core", "omegaconf", "numpy")


def package_versions() -> dict[str, str]:
    """Python's version and the installed versions of RECORDED_PACKAGES (what `make install`
    took from requirements/lock.txt), so that a run can be set up again."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
