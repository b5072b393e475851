"""The machine a run or benchmark ran on, named as every figure must be: the CPU by its model
name (`platform.processor()` is only "x86_64" on Linux), its vector instruction set, whether it
computes bfloat16 natively and has AMX (what `fast=cpu` picks its precision by), the threads torch
uses, and the GPU where CUDA is in use."""

from __future__ import annotations

import platform

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
