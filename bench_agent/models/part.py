"""A part kept from a machine for the parts bin (memory module, wiped disk, optical drive,
sound card, power supply), as the bench proposes it and as the ledger stocks it."""

from __future__ import annotations

from typing import Literal

from bench_agent.models.base import Model

PartKind = Literal["memory", "disk", "optical", "sound", "psu"]
PartState = Literal["harvested", "in_stock", "fitted", "scrapped"]
PART_KINDS: tuple[PartKind, ...] = ("memory", "disk", "optical", "sound", "psu")


class Part(Model):
    """What the part is, read from the donor machine's inventory (or typed, for a PSU)."""

    kind: PartKind
    description: str = ""  # "DDR-400 256 MB DIMM", "Hitachi HDS722580VLAT20 82 GB"...
    serial: str = ""  # the part's own serial when the hardware gives one
    slot: str = ""  # where it sat in the donor (DMI locator, kernel name): identity without serial
    model: str = ""
    mem_type: str = ""  # DDR, DDR2... (memory)
    form_factor: str = ""  # DIMM, SODIMM... (memory)
    size_bytes: int = 0  # memory or disk size
    speed_mts: int | None = None  # memory
    certificate_id: str = ""  # the wipe certificate of a disk
    watts: int | None = None  # a power supply's rating (typed)


class StockedPart(Part):
    """A part as the ledger holds it: its code (on its label), state and bin."""

    code: str
    state: PartState
    bin: str = ""
    from_asset_tag: str = ""
    fitted_asset_tag: str = ""
    lot: str = ""
