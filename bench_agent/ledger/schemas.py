"""Request and response bodies of the ledger API (``/api/v1``), as published in the OpenAPI spec."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from bench_agent.i18n import _
from bench_agent.ledger.models import HEARTBEAT_COLUMNS
from bench_agent.models.heartbeat import Heartbeat

LIFECYCLE_KINDS = (
    "received",
    "tested",
    "wiped",
    "imaged",
    "packed",
    "given",
    "returned",
    "recycled",
)
BENEFICIARY_CATEGORIES = ("family", "job_seeker", "student", "association", "school")
LifecycleKind = Literal[
    "received", "tested", "wiped", "imaged", "packed", "given", "returned", "recycled"
]
BeneficiaryCategory = Literal["family", "job_seeker", "student", "association", "school"]

# Largest id a 64-bit database column holds (SQLite and PostgreSQL alike).
MAX_ID = 2**63 - 1
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A beneficiary is only a pseudonym the workshop keeps in its own register: by default one to six
# capital letters then one to three groups of digits (FAM-2026-017, F-1, B-000123); a site may
# set its own pattern in BENCH_LEDGER_PSEUDONYM_PATTERN (a Python regular expression, matched
# whole). Names, e-mails and phone numbers never match.
DEFAULT_PSEUDONYM_PATTERN = r"[A-Z]{1,6}(?:-[0-9]{1,8}){1,3}"
ERASED_PSEUDONYM = "ERASED"
# Contact data a free-text field must not hold (notes, a lot's donor).
_STREET_WORDS = (
    r"rue|av|ave|avenue|bd|boulevard|blvd|chemin|impasse|imp|all[ée]e|place|route|rte"
    r"|quai|cours|square|passage|voie|faubourg|fbg|villa|cit[ée]|r[ée]sidence|hameau"
    r"|lieu-dit|street|road|lane|drive|way|close|court|crescent|terrace"
)
_PERSONAL_DATA = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+"  # e-mail
    # obfuscated e-mail: jean.dupont AT example DOT org, jean [at] example (dot) org
    r"|[\w.+-]+\s*[\[({]?\s*(?:\bat\b|arobase)\s*[\])}]?\s*[\w-]+"
    r"\s*[\[({]?\s*(?:\bdot\b|\bpoint\b)\s*[\])}]?\s*[a-z]{2,6}\b"
    r"|(?:\+?\d[\s.-]?){9,}"  # phone number
    # a street address: 3 av. Foch, 5 quai de Seine, 21 Baker Street, 12 bis, rue …
    rf"|\b\d{{1,4}}\s*(?:bis|ter)?,?\s+(?:{_STREET_WORDS})\b\.?"
    rf"|\b\d{{1,4}}\s+(?:[A-Z][\w'-]+\s+){{1,3}}(?:street|road|lane|avenue|drive)\b",
    re.IGNORECASE,
)
# A person named with a title: Mme Jeanne Martin, M. Dupont, Mr Smith.
_TITLED_NAME = re.compile(
    r"(?:^|[\s,;(])(?:M\.|MM\.|Mme|Mmes|Mlle|Mr|Mrs|Ms|Miss|Madame|Monsieur|Mademoiselle|Dr|Pr)"
    r"\.?\s+[A-ZÀ-Ý][\w'-]+"
)


def pseudonym_pattern() -> str:
    from bench_agent.ledger.settings import ledger_settings

    return ledger_settings().pseudonym_pattern or DEFAULT_PSEUDONYM_PATTERN


def personal_data(text: str) -> bool:
    """Whether free text holds contact data or a titled person's name."""
    return bool(_PERSONAL_DATA.search(text) or _TITLED_NAME.search(text))


def _no_contact(value: str | None) -> str | None:
    if value and personal_data(value):
        raise ValueError(
            _("must not hold an e-mail, phone number, postal address or a person's name")
        )
    return value


def in_range(value: datetime | None) -> datetime | None:
    """A time the database can store in UTC (a far date with an offset may overflow)."""
    if value is None:
        return None
    try:
        if value.tzinfo is not None:
            value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(_("is out of the range of dates the ledger stores")) from exc
    return value


# Dates people enter (an event, a lot's arrival): the programme's lifetime, not year 1 or 9999.
EARLIEST_DATE = date(1990, 1, 1)
FUTURE_SLACK = timedelta(days=2)


def plausible(value: datetime | date | None) -> Any:
    """A date a person could mean: from 1990 to two days from now (clocks drift)."""
    if value is None:
        return None
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    latest = (datetime.now(UTC) + FUTURE_SLACK).date()
    if not EARLIEST_DATE <= day <= latest:
        raise ValueError(
            _(
                "must be between {earliest} and {latest}",
                earliest=EARLIEST_DATE.isoformat(),
                latest=latest.isoformat(),
            )
        )
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class LoginRequest(Strict):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    name: str
    role: str
    expires_at: datetime


class Me(BaseModel):
    kind: str
    name: str
    role: str


class RecordStored(BaseModel):
    id: int
    record_id: str
    status: Literal["stored", "already_stored"]


class RecordSummary(BaseModel):
    id: int
    record_id: str
    station: str
    asset_id: int | None
    asset_tag: str
    serial: str
    uuid: str
    lot: str
    operator: str
    outcome: str
    training: bool
    finished_at: datetime | None
    created_at: datetime


class RecordOut(RecordSummary):
    body_sha256: str
    key_id: str
    document: dict[str, Any]


class HeartbeatIn(Heartbeat):
    """A heartbeat as received: the fields every bench sends (bench_agent.models.heartbeat, the
    one definition), the station it names, and whatever else it said in ``extra``."""

    station: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] = Field(default_factory=dict)


class HeartbeatAck(BaseModel):
    station: str
    received_at: datetime


def _heartbeat_out() -> type[BaseModel]:
    """A station's latest heartbeat as the API shows it: one field per stored column
    (``HEARTBEAT_COLUMNS``), typed as the heartbeat model types it, without its input limits
    (a row answers as it was stored), and ``body`` parsed."""
    fields: dict[str, Any] = {}
    for name in HEARTBEAT_COLUMNS:
        if name == "received_at":
            fields[name] = (datetime, ...)
        elif name == "body":
            fields[name] = (dict[str, Any], ...)
        else:
            fields[name] = (Heartbeat.model_fields[name].annotation, ...)
    return create_model("HeartbeatOut", __module__=__name__, **fields)


if TYPE_CHECKING:
    HeartbeatOut = BaseModel
else:
    HeartbeatOut = _heartbeat_out()


class StationCreate(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    location: str = Field(default="", max_length=200)


class StationCreated(BaseModel):
    name: str
    token: str


class StationOut(BaseModel):
    name: str
    location: str
    key_id: str | None
    disabled: bool
    created_at: datetime
    last_seen_at: datetime | None
    online: bool
    heartbeat: HeartbeatOut | None


class PublicKeyIn(Strict):
    public_key: str = Field(min_length=40, max_length=200)
    rotation_signature: str | None = Field(
        default=None,
        max_length=200,
        description="to replace a published key: the current key's signature (base64) of the "
        "hand-over statement (bench_agent.sync.enroll.rotation_statement)",
    )


class StationKeyOut(BaseModel):
    station: str
    public_key: str
    key_id: str
    published_at: datetime


class AssetOut(BaseModel):
    id: int
    asset_tag: str
    serial: str
    uuid: str
    vendor: str
    product: str
    lot: str
    first_seen_at: datetime
    last_seen_at: datetime


class EventOut(BaseModel):
    id: int
    asset_id: int
    kind: str
    at: datetime
    category: str
    beneficiary_ref: str
    note: str
    created_at: datetime
    created_by: str


class CertificateSummary(BaseModel):
    certificate_id: str
    record_id: str
    disk_serial: str
    method: str
    status: str
    key_id: str
    issued_at: datetime


class AssetHistory(AssetOut):
    records: list[RecordSummary]
    events: list[EventOut]
    certificates: list[CertificateSummary]


class _LotChecks(Strict):
    """What a new lot and a lot's change both check (the fields are the subclasses')."""

    @field_validator("received_on", check_fields=False)
    @classmethod
    def _plausible(cls, value: date | None) -> date | None:
        result: date | None = plausible(value)
        return result

    @field_validator("donor", "note", check_fields=False)
    @classmethod
    def _organisation(cls, value: str | None) -> str | None:
        # The donor is an organisation; neither field holds a person's contact data.
        return _no_contact(value)


class LotIn(_LotChecks):
    code: str = Field(pattern=NAME_PATTERN)
    donor: str = Field(default="", max_length=200)
    received_on: date | None = None
    note: str = Field(default="", max_length=2000)


class LotPatch(_LotChecks):
    donor: str | None = Field(default=None, max_length=200)
    received_on: date | None = None
    note: str | None = Field(default=None, max_length=2000)


class LotOut(BaseModel):
    code: str
    donor: str
    received_on: date | None
    note: str
    created_at: datetime
    created_by: str


class EventIn(Strict):
    """A step in a machine's life. Name the machine by one identifier."""

    asset_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    asset_tag: str = Field(default="", max_length=100)
    serial: str = Field(default="", max_length=200)
    uuid: str = Field(default="", max_length=64)
    kind: LifecycleKind
    at: datetime | None = None
    category: BeneficiaryCategory | None = Field(
        default=None, description="beneficiary category (given, returned)"
    )
    beneficiary_ref: str = Field(
        default="",
        description="pseudonymous reference kept by the workshop (never a name or address)",
        max_length=32,
    )
    note: str = Field(default="", max_length=500)

    @field_validator("at")
    @classmethod
    def _representable(cls, value: datetime | None) -> datetime | None:
        result: datetime | None = plausible(in_range(value))
        return result

    @field_validator("beneficiary_ref")
    @classmethod
    def _pseudonymous(cls, value: str) -> str:
        if value and not re.fullmatch(pseudonym_pattern(), value):
            raise ValueError(
                _(
                    "must be the workshop's pseudonym of the beneficiary (pattern {pattern}, "
                    "e.g. FAM-2026-017), never a name, e-mail or phone number",
                    pattern=pseudonym_pattern(),
                )
            )
        return value

    @field_validator("note")
    @classmethod
    def _no_personal_data(cls, value: str) -> str:
        _no_contact(value)
        return value


class CertificateVerification(BaseModel):
    valid: bool
    certificate_id: str
    station: str | None = None
    key_id: str | None = None
    known: bool = Field(description="the ledger holds this exact certificate")
    reason: str = ""


class ImageFile(BaseModel):
    name: str
    size: int
    modified_at: datetime


class AuditReport(BaseModel):
    entries: int
    ok: bool
    problems: list[str]
