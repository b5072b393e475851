"""The machine a run or benchmark ran on, named as every figure must be: the CPU by its model
name (`platform.processor()` is only "x86_64" on Linux), its vector instruction set, whether it
computes bfloat16 natively and has AMX (what `fast=cpu` picks its precision by), the threads torch
uses, and the GPU where CUDA is in use."""

from __future__ import annotations

import platform
from importlib import metadata

import torch

from gan.config import cpu_amx, native_cpu_bf16


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo on Linux; elsewhere what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """The CPU, its instruction set, native bfloat16, AMX, torch's threads and version; the GPU only
    when CUDA is already initialised (naming it would initialise CUDA, which a process that will
    fork workers must not do)."""
    info = {
        "cpu": cpu_name(),
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
