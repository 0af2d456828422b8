"""The calls the CLI commands share with the workflow (``workflow/commands.py``): the station's
profile unless one is named, the one device-policy builder, the profile's wipe rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import InputError
from bench_agent.inventory.profiles import load_profile, parse_profile
from bench_agent.workflow.commands import station_profile, wipe_rules


def test_the_profile_named_wins_over_the_stations(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, profile="pentium4")
    named = station_profile("test-bench", settings)
    assert named is not None and named.name == "test-bench"
    station = station_profile(None, settings)
    assert station is not None and station.name == "pentium4"
    assert station_profile(None, load_settings(home=tmp_path, profile="")) is None
    with pytest.raises(InputError, match="Unknown profile 'nonesuch'"):
        station_profile("nonesuch", settings)


def test_wipe_rules_follow_the_profile_and_take_a_loop_only_when_named(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, allow_removable=False)
    pentium4 = load_profile("pentium4")
    listed = wipe_rules(pentium4, settings, named=False)
    assert not listed.policy.allow_loop and not listed.policy.allow_removable
    named = wipe_rules(pentium4, settings, named=True)
    assert named.policy.allow_loop  # a disk the operator named, even a loop device
    assert named.methods == [str(m) for m in pentium4.wipe.methods] and named.verify == "sample"
    # The test bench's profile allows USB media; the station's setting can allow them too.
    assert wipe_rules(load_profile("test-bench"), settings, named=False).policy.allow_removable
    removable = load_settings(home=tmp_path, allow_removable=True)
    assert wipe_rules(pentium4, removable, named=False).policy.allow_removable
    # No profile: every method the disk supports, the NIST sample read-back.
    bare = wipe_rules(None, settings, named=True)
    assert bare.methods is None and bare.verify == "sample"
    full = parse_profile('name = "x"\n[wipe]\nverify = "full"\n', "x.toml")
    assert wipe_rules(full, settings, named=True).verify == "full"
