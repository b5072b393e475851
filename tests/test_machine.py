"""gan.machine names the CPU as lscpu does: model name, family and model."""

from __future__ import annotations

from pathlib import Path

from gan.machine import _cpuinfo, cpu_model

TWO_PROCESSORS = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu avx2 avx512f

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: another
"""


def test_the_first_processors_family_and_model_are_read(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(TWO_PROCESSORS)
    assert cpu_model(str(cpuinfo)) == "family 25 model 17"
    assert _cpuinfo(str(cpuinfo))["model name"] == "AMD EPYC"  # not "model"'s value


def test_without_cpuinfo_or_its_fields_the_model_is_none(tmp_path: Path):
    assert cpu_model(str(tmp_path / "absent")) is None
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n")
    assert cpu_model(str(arm)) is None
