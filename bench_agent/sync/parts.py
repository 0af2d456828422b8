"""The bench's side of the parts bin: harvest a machine's parts into the ledger, ask what the
bin holds for a machine lacking RAM, record a fitted part. A refusal (part harvested twice,
not in stock, wrong type of module) comes back as a ``PartsRefused`` with the ledger's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench_agent.config import AgentSettings
from bench_agent.errors import EXIT_UNAVAILABLE, BenchError
from bench_agent.i18n import _
from bench_agent.models.inventory import Inventory
from bench_agent.models.part import Part, StockedPart

PARTS_TIMEOUT_S = 10.0


class PartsRefused(BenchError):
    """The ledger refused a parts bin request; the message is its reason."""


@dataclass
class BinSuggestion:
    text: str  # "" when the machine's RAM is not to remediate
    missing_bytes: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)  # best first
    refused: list[dict[str, str]] = field(default_factory=list)

    @property
    def best_codes(self) -> list[str]:
        return list(self.groups[0]["codes"]) if self.groups else []


def _call(
    settings: AgentSettings, method: str, path: str, *, raw: bool = False, **kwargs: Any
) -> Any:
    from bench_agent.sync.sender import api_url, auth_headers, require_enrolled

    require_enrolled(settings)
    import httpx

    try:
        response = httpx.request(
            method,
            api_url(settings, path),
            headers=auth_headers(settings),
            timeout=PARTS_TIMEOUT_S,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        raise BenchError(
            _("The ledger does not answer: {reason}", reason=str(exc) or type(exc).__name__),
            _("Check the network cable and the ledger's address, then try again."),
            exit_code=EXIT_UNAVAILABLE,
        ) from None
    if response.status_code in (401, 403):
        raise BenchError(
            _("The ledger refuses this station's token."),
            _("Enrol the station again with a new token."),
            exit_code=EXIT_UNAVAILABLE,
        )
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            detail = ""
        if not isinstance(detail, str):
            detail = "; ".join(str(d.get("msg", d)) for d in detail) if detail else ""
        raise PartsRefused(
            detail or _("the ledger answered with an error ({code})", code=response.status_code)
        )
    return response.content if raw else response.json()


def harvest(
    settings: AgentSettings, asset_tag: str, parts: list[Part], bin_: str = ""
) -> list[StockedPart]:
    """Keep these parts of the machine (rejected or to remediate); in ``bin_`` if given."""
    body = {
        "asset_tag": asset_tag,
        "parts": [p.model_dump(mode="json") for p in parts],
        "bin": bin_,
    }
    return [StockedPart.model_validate(p) for p in _call(settings, "POST", "/parts", json=body)]


def stock_part(settings: AgentSettings, code: str, bin_: str) -> StockedPart:
    data = _call(settings, "POST", f"/parts/{code}/stock", json={"bin": bin_})
    return StockedPart.model_validate(data)


def list_stock(settings: AgentSettings, kind: str | None = None) -> list[StockedPart]:
    params = {"state": "in_stock", **({"kind": kind} if kind else {})}
    return [StockedPart.model_validate(p) for p in _call(settings, "GET", "/parts", params=params)]


def suggestion(settings: AgentSettings, asset_tag: str) -> BinSuggestion:
    data = _call(settings, "GET", "/parts/suggest", params={"asset_tag": asset_tag})
    return BinSuggestion(
        text=str(data.get("text", "")),
        missing_bytes=int(data.get("missing_bytes", 0)),
        groups=list(data.get("groups", [])),
        refused=list(data.get("refused", [])),
    )


def fit_part(
    settings: AgentSettings, code: str, asset_tag: str, inventory: Inventory | None = None
) -> StockedPart:
    """Record that part ``code`` was fitted into machine ``asset_tag`` (checked against
    ``inventory``, the machine as the bench sees it, or else its latest record)."""
    body: dict[str, Any] = {"asset_tag": asset_tag}
    if inventory is not None:
        body["inventory"] = inventory.model_dump(mode="json")
    data = _call(settings, "POST", f"/parts/{code}/fit", json=body)
    return StockedPart.model_validate(data)


def scrap_part(settings: AgentSettings, code: str, note: str = "") -> StockedPart:
    data = _call(settings, "POST", f"/parts/{code}/scrap", json={"note": note})
    return StockedPart.model_validate(data)


def part_label(settings: AgentSettings, code: str, size: str = "62x100") -> bytes:
    """The part's printable label (PDF) for the bench's label printer."""
    data: bytes = _call(
        settings, "GET", f"/parts/{code}/label.pdf", raw=True, params={"size": size}
    )
    return data
