"""CPU parsing over real lscpu / cpuinfo outputs; expected values written from the texts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench_agent.inventory.cpu import merge_cpu, parse_cpuinfo, parse_lscpu, rated_mhz_from_name
from tests.conftest import FIXTURES

CPU = FIXTURES / "cpu"

# file: (vendor, model name, family, model, stepping, rated MHz, cores, threads, sockets,
#        sse2, 64-bit, arch)
LSCPU = {
    "pentium3-coppermine-2socket-d6b515.lscpu.txt": (
        "GenuineIntel",
        "Pentium III (Coppermine)",
        6,
        8,
        6,
        999.602,
        2,
        2,
        2,
        False,
        False,
        "i686",
    ),
    "pentium4-willamette-htflag-1thread-069ba0.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Pentium(R) 4 CPU 1.60GHz",
        15,
        1,
        2,
        1600.0,
        1,
        1,
        1,
        True,
        False,
        "i686",
    ),
    "pentium4-northwood-ht-nolm-513bd6.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Pentium(R) 4 CPU 3.06GHz",
        15,
        2,
        7,
        3060.0,
        1,
        2,
        1,
        True,
        False,
        "i686",
    ),
    "pentium4-prescott-lm-noht-06b727.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Pentium(R) 4 CPU 2.80GHz",
        15,
        4,
        1,
        2800.0,
        1,
        1,
        1,
        True,
        True,
        "x86_64",
    ),
    "pentium4-cedarmill-ht-lm-4f4fa6.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Pentium(R) 4 CPU 3.20GHz",
        15,
        6,
        5,
        3200.0,
        1,
        2,
        1,
        True,
        True,
        "x86_64",
    ),
    "celeron-d-cedarmill-408a0a.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Celeron(R) D CPU 3.06GHz",
        15,
        6,
        5,
        3060.0,
        1,
        1,
        1,
        True,
        True,
        "x86_64",
    ),
    "athlon-xp-2500-barton-f6bdec.lscpu.txt": (
        "AuthenticAMD",
        "AMD Athlon(tm) XP 2500+",
        6,
        10,
        0,
        1837.0,
        1,
        1,
        1,
        False,
        False,
        "i686",
    ),
    "sempron-2800-k8-016210.lscpu.txt": (
        "AuthenticAMD",
        "AMD Sempron(tm) Processor 2800+",
        15,
        44,
        2,
        1599.887,
        1,
        1,
        1,
        True,
        True,
        "x86_64",
    ),
    "pentium-m-dothan-0ac19d.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Pentium(R) M processor 1.73GHz",
        6,
        13,
        8,
        1733.0,
        1,
        1,
        1,
        True,
        False,
        "i686",
    ),
    "atom-330-0d0d8b.lscpu.txt":
    # lscpu prints the name with runs of spaces; we collapse them.
    (
        "GenuineIntel",
        "Intel(R) Atom(TM) CPU 330 @ 1.60GHz",
        6,
        28,
        2,
        1600.0,
        2,
        4,
        1,
        True,
        True,
        "x86_64",
    ),
    "core2-duo-e8400-05ccf8.lscpu.txt": (
        "GenuineIntel",
        "Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz",
        6,
        23,
        10,
        3003.0,
        2,
        2,
        1,
        True,
        True,
        "x86_64",
    ),
    "core-i7-1165g7-01af29.lscpu.txt": (
        "GenuineIntel",
        "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz",
        6,
        140,
        1,
        4700.0,
        4,
        8,
        1,
        True,
        True,
        "x86_64",
    ),
    "ryzen7-5800x-029f25.lscpu.txt": (
        "AuthenticAMD",
        "AMD Ryzen 7 5800X 8-Core Processor",
        25,
        33,
        0,
        3800.0,
        8,
        16,
        1,
        True,
        True,
        "x86_64",
    ),
}


@pytest.mark.parametrize("file", sorted(LSCPU))
def test_lscpu(file: str) -> None:
    (
        vendor,
        model,
        family,
        model_number,
        stepping,
        mhz,
        cores,
        threads,
        sockets,
        sse2,
        is64,
        arch,
    ) = LSCPU[file]
    cpu = parse_lscpu((CPU / file).read_text(encoding="utf-8"))
    assert cpu.vendor == vendor
    assert cpu.model == model
    assert (cpu.family, cpu.model_number, cpu.stepping) == (family, model_number, stepping)
    assert cpu.mhz == pytest.approx(mhz)
    assert cpu.physical_cores == cores
    assert cpu.logical_cpus == threads
    assert cpu.sockets == sockets
    assert cpu.has_sse2 is sse2
    assert cpu.is_64bit is is64
    assert cpu.has_pae is True  # every one of these prints "pae"
    assert cpu.arch == arch


def test_athlon_xp_has_sse_but_not_sse2() -> None:
    cpu = parse_lscpu((CPU / "athlon-xp-2500-barton-f6bdec.lscpu.txt").read_text())
    assert "sse" in cpu.flags and "3dnow" in cpu.flags
    assert "sse2" not in cpu.flags


def test_willamette_ht_flag_is_not_a_second_thread() -> None:
    cpu = parse_lscpu((CPU / "pentium4-willamette-htflag-1thread-069ba0.lscpu.txt").read_text())
    assert "ht" in cpu.flags
    assert cpu.logical_cpus == 1


def test_proc_cpuinfo_of_this_vm() -> None:
    cpu = parse_cpuinfo((CPU / "amd-epyc-kvm-this-vm.cpuinfo.txt").read_text())
    assert cpu.vendor == "AuthenticAMD"
    assert cpu.model == "AMD EPYC"
    assert (cpu.family, cpu.model_number, cpu.stepping) == (26, 2, 1)
    assert cpu.mhz == pytest.approx(2596.1)
    assert (cpu.logical_cpus, cpu.physical_cores, cpu.sockets) == (2, 2, 1)
    assert cpu.is_64bit and cpu.has_sse2 and cpu.has_pae
    assert "avx512f" in cpu.flags


# A uniprocessor i686 kernel's cpuinfo has no "core id"/"cpu cores"; built here from the
# fields of the real Northwood lscpu above (same family/model/stepping/flags).
NORTHWOOD_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 15
model\t\t: 2
model name\t: Intel(R) Pentium(R) 4 CPU 3.06GHz
stepping\t: 7
cpu MHz\t\t: 2305.174
siblings\t: 2
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 15
model\t\t: 2
model name\t: Intel(R) Pentium(R) 4 CPU 3.06GHz
stepping\t: 7
cpu MHz\t\t: 2305.174
siblings\t: 2
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe
"""


def test_old_kernel_cpuinfo_hyperthreading() -> None:
    cpu = parse_cpuinfo(NORTHWOOD_CPUINFO)
    assert cpu.logical_cpus == 2
    assert cpu.physical_cores == 1
    assert cpu.mhz == pytest.approx(3060.0)
    assert cpu.has_sse2 and not cpu.is_64bit


def test_merge_prefers_lscpu_topology() -> None:
    lscpu = parse_lscpu((CPU / "pentium4-northwood-ht-nolm-513bd6.lscpu.txt").read_text())
    cpuinfo = parse_cpuinfo(NORTHWOOD_CPUINFO)
    cpu = merge_cpu(cpuinfo, lscpu)
    assert cpu.physical_cores == 1 and cpu.logical_cpus == 2 and cpu.arch == "i686"
    assert merge_cpu(None, None, "x86_64").arch == "x86_64"


@pytest.mark.parametrize(
    "name,mhz",
    [
        ("Intel(R) Pentium(R) 4 CPU 3.06GHz", 3060.0),
        ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", 3000.0),
        ("Pentium III (Coppermine)", None),
        ("AMD Athlon(tm) 64 Processor 3000+", None),
        ("VIA Esther processor 1000MHz", 1000.0),
    ],
)
def test_rated_mhz_from_name(name: str, mhz: float | None) -> None:
    assert rated_mhz_from_name(name) == mhz


@given(st.text(max_size=400))
def test_parsers_never_raise(text: str) -> None:
    parse_cpuinfo(text)
    parse_lscpu(text)
