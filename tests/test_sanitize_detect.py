"""What each drive supports, from recorded hdparm / nvme-cli output, and the method chosen.

Expected values are written by hand from reading the fixture text (see the SOURCES.md files).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench_agent.errors import InputError
from bench_agent.sanitize import ata, nvme
from bench_agent.sanitize.plan import _ata_support, _expand_allowed, _nvme_support, select_method
from bench_agent.sanitize.sampling import nist_sample_plan
from tests.conftest import FIXTURES

HDPARM = FIXTURES / "hdparm"
NVME = FIXTURES / "nvme"


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_qemu_ide_disk_has_no_firmware_purge() -> None:
    caps = ata.parse_hdparm_identify(text(HDPARM / "qemu72-ide-identify.txt"))
    assert (caps.model, caps.serial, caps.firmware) == ("QEMU HARDDISK", "IDE-DONOR-1", "2.5+")
    assert caps.sectors == 131072
    assert "48-bit Address feature set" in caps.features
    assert not caps.sanitize and not caps.security.supported
    assert not caps.hpa_feature and not caps.dco_feature
    support = _ata_support(caps)
    assert support["ata-secure-erase"] == "no ATA Security feature set"
    assert support["ata-sanitize-block"] == "no SANITIZE feature set"


def test_qemu_ahci_disk_identity() -> None:
    caps = ata.parse_hdparm_identify(text(HDPARM / "qemu72-ahci-identify.txt"))
    assert caps.model == "WDC WD800JD-00LSA0" and caps.serial == "SATA-DONOR-2"
    assert "Native Command Queueing (NCQ)" in caps.features


def test_qemu_hidden_areas_none_and_dco_unknown() -> None:
    native = ata.parse_hdparm_native_max(text(HDPARM / "qemu72-ide-native-max.txt"))
    assert native == (131072, 131072)
    dco = ata.parse_dco_real_max(text(HDPARM / "qemu72-ide-dco-identify.txt"))
    assert dco == 1  # what hdparm printed after the drive aborted the command
    areas = ata.hidden_areas_from(native, dco)
    assert areas.hpa_present is False
    assert areas.dco_present is None  # meaningless answer: unknown, never "no DCO"
    assert "DCO state unknown" in areas.note and not areas.erased


def test_qemu_security_set_pass_is_aborted_although_hdparm_succeeds() -> None:
    output = text(HDPARM / "qemu72-ide-security-set-pass.txt")
    assert "Issuing SECURITY_SET_PASS command" in output
    after = ata.parse_hdparm_identify(text(HDPARM / "qemu72-ide-identify-after-set-pass.txt"))
    assert not after.security.enabled  # judged from the drive: no password was set


def test_sanitize_status_parsing() -> None:
    assert ata.parse_sanitize_status(text(HDPARM / "qemu72-ide-sanitize-status.txt")) == (
        "",
        None,
        False,
    )
    running = (
        "Issuing SANITIZE_STATUS command\nSanitize status:\n"
        "    State:    SD2 Sanitize operation In Process\n    Progress: 0x8000 (50%)\n"
    )
    assert ata.parse_sanitize_status(running) == ("SD2", 50, False)
    done = (
        "Sanitize status:\n    State:    SD0 Sanitize Idle\n"
        "    Last Sanitize Operation Completed Without Error\n"
    )
    assert ata.parse_sanitize_status(done) == ("SD0", None, True)


def test_ssd_with_sanitize_and_frozen_security() -> None:
    caps = ata.parse_hdparm_identify(text(HDPARM / "handwritten-sata-ssd-sanitize-frozen.txt"))
    assert caps.solid_state and caps.sectors == 468862128
    assert caps.sanitize and caps.sanitize_crypto and caps.sanitize_block
    assert not caps.sanitize_overwrite
    sec = caps.security
    assert sec.supported and sec.frozen and sec.enhanced_erase
    assert not sec.enabled and not sec.locked
    assert (sec.erase_minutes, sec.enhanced_erase_minutes) == (2, 2)
    support = _ata_support(caps)
    assert support["ata-sanitize-crypto"] is None
    assert support["ata-sanitize-block"] is None
    assert support["ata-sanitize-overwrite"] == "no OVERWRITE"
    assert "frozen" in str(support["ata-secure-erase-enhanced"])
    # Everything allowed: the strongest purge, with an overwrite to fall back on.
    chosen, fallback, _opts = select_method(support, _expand_allowed(None), "auto", True, "sda")
    assert (chosen, fallback) == ("ata-sanitize-crypto", "random")
    # The pentium4 profile allows only security erase and overwrite: frozen -> overwrite.
    allowed = _expand_allowed(["ata-secure-erase-enhanced", "ata-secure-erase", "random", "zero"])
    assert select_method(support, allowed, "auto", True, "sda")[:2] == ("random", None)
    with pytest.raises(InputError, match="frozen"):
        select_method(support, allowed, "firmware", True, "sda")


def test_hdd_with_security_erase_and_hpa() -> None:
    caps = ata.parse_hdparm_identify(text(HDPARM / "handwritten-pata-hdd-security-hpa.txt"))
    assert caps.rotation_rpm == 7200 and not caps.solid_state
    assert caps.security.supported and not caps.security.frozen
    assert not caps.security.enhanced_erase
    assert caps.security.erase_minutes == 98 and caps.security.enhanced_erase_minutes is None
    support = _ata_support(caps)
    assert support["ata-secure-erase"] is None
    assert support["ata-secure-erase-enhanced"] == "enhanced erase not supported"
    assert select_method(support, _expand_allowed(None), "auto", False, "hda")[:2] == (
        "ata-secure-erase",
        "zero",
    )
    native = ata.parse_hdparm_native_max(text(HDPARM / "handwritten-pata-hdd-native-max-hpa.txt"))
    dco = ata.parse_dco_real_max(text(HDPARM / "handwritten-pata-hdd-dco-identify.txt"))
    areas = ata.hidden_areas_from(native, dco)
    assert areas.hpa_present is True and areas.dco_present is False
    assert areas.native_max_sectors == 156301488 and areas.visible_sectors == 156299375
    assert "HPA hides 2113 sectors" in areas.note and not areas.erased


def test_qemu_nvme_supports_format_only() -> None:
    caps = nvme.parse_id_ctrl(text(NVME / "qemu72-id-ctrl.json"))
    assert (caps.model, caps.serial, caps.firmware) == ("QEMU NVMe Ctrl", "NVME-DONOR-3", "7.2.22")
    assert caps.format_supported and not caps.crypto_erase_format
    assert not (caps.sanitize_crypto or caps.sanitize_block or caps.sanitize_overwrite)
    assert caps.max_namespaces == 256
    nvme.apply_id_ns(caps, text(NVME / "qemu72-id-ns.json"))
    assert caps.current_lbaf == 0 and caps.lba_bytes == 512
    support = _nvme_support(caps)
    assert support["nvme-format-user-data"] is None
    assert support["nvme-format-crypto"] == "no cryptographic erase in Format"
    assert select_method(support, _expand_allowed(None), "auto", True, "nvme0n1")[:2] == (
        "nvme-format-user-data",
        "random",
    )
    assert "Success formatting" in text(NVME / "qemu72-format-ses1.txt")
    assert nvme.parse_sanitize_log(text(NVME / "qemu72-sanitize-log.txt")) is None


def test_nvme_with_sanitize() -> None:
    caps = nvme.parse_id_ctrl(text(NVME / "handwritten-id-ctrl-sanitize.json"))
    assert caps.sanitize_crypto and caps.sanitize_block and not caps.sanitize_overwrite
    assert caps.crypto_erase_format
    support = _nvme_support(caps)
    assert select_method(support, _expand_allowed(None), "auto", True, "nvme0n1")[0] == (
        "nvme-sanitize-crypto"
    )
    only_format = _expand_allowed(["nvme-format-crypto", "zero"])
    assert select_method(support, only_format, "auto", True, "nvme0n1")[:2] == (
        "nvme-format-crypto",
        "zero",
    )
    assert nvme.parse_sanitize_log(text(NVME / "handwritten-sanitize-log-in-progress.json")) == (
        2,
        0.5,
    )
    state, fraction = nvme.parse_sanitize_log(
        text(NVME / "handwritten-sanitize-log-done.json")
    ) or (0, 0.0)
    assert state == 1 and fraction > 0.99
    assert nvme.parse_sanitize_log('{"nvme0": {"sprog": 0, "sstat": 259}}') == (3, 0.0)


def test_controller_names() -> None:
    assert nvme.controller_of("nvme0n1")[0] == "/dev/nvme0"
    assert nvme.controller_of("nvme2c2n1")[0] == "/dev/nvme2"


def test_unknown_profile_method_is_an_input_error() -> None:
    with pytest.raises(InputError, match="secure-erase-turbo"):
        _expand_allowed(["secure-erase-turbo"])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_parsers_survive_any_text(blob: str) -> None:
    ata.parse_hdparm_identify(blob)
    ata.parse_hdparm_native_max(blob)
    ata.parse_dco_real_max(blob)
    ata.parse_sanitize_status(blob)
    nvme.parse_sanitize_log(blob)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=1 << 22),
    st.sampled_from([512, 4096]),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_nist_sample_plan_properties(sectors: int, sector: int, seed: int) -> None:
    size = sectors * sector
    plan = nist_sample_plan(size, sector, seed=seed)
    assert plan.bytes_total >= 0.10 * size
    assert plan.ranges[0][0] == 0  # first block
    last_offset, last_length = plan.ranges[-1]
    assert last_offset + last_length == size  # last block
    previous_end = 0
    for offset, length in plan.ranges:
        assert offset % sector == 0 and length % sector == 0 and length > 0
        assert offset >= previous_end  # sorted, no overlap
        previous_end = offset + length
    assert previous_end <= size
    if sectors >= 4 * 1000:
        assert plan.subsections >= 1000
        assert len(plan.ranges) >= 1000  # two per subsection (some merge with neighbours)
    assert nist_sample_plan(size, sector, seed=seed) == plan  # reproducible from the seed
