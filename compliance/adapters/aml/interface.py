"""The AML screening provider's contract, shaped like ComplyAdvantage's search API: the answer
({"content": {"data": {"total_hits", "hits": [{"doc": ..., "match_score": ...}]}}}) read into a
ScreeningResult against settings.AML_MATCH_THRESHOLD.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings


@dataclass(frozen=True)
class Hit:
    ref: str
    name: str
    matched_name: str
    list_name: str
    score: Decimal
    name_score: Decimal
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "matched_name": self.matched_name,
            "list": self.list_name,
            "score": str(self.score),
            "name_score": str(self.name_score),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ScreeningResult:
    provider: str
    best_score: Decimal
    hits: list[Hit]  # everything worth showing, best first
    threshold: Decimal

    @property
    def is_hit(self) -> bool:
        return self.best_score >= self.threshold


class AMLProvider(Protocol):
    name: str

    def search(self, *, name: str, date_of_birth: date | None, country: str) -> dict[str, Any]: ...


def screen(provider: AMLProvider, *, name: str, date_of_birth: date | None, country: str) -> ScreeningResult:
    """Search and read the provider's answer into a ScreeningResult against the threshold."""
    data = provider.search(name=name, date_of_birth=date_of_birth, country=country)["content"]["data"]
    hits = [
        Hit(
            ref=str(h["doc"]["id"]),
            name=h["doc"]["name"],
            matched_name=h["doc"].get("matched_name", h["doc"]["name"]),
            list_name=(h["doc"].get("types") or [""])[0],
            score=Decimal(h["match_score"]),
            name_score=Decimal(h.get("name_score", h["match_score"])),
            reasons=tuple(h.get("match_reasons", ())),
        )
        for h in data["hits"]
    ]
    best = max((h.score for h in hits), default=Decimal("0"))
    return ScreeningResult(
        provider=provider.name, best_score=best, hits=hits, threshold=Decimal(settings.AML_MATCH_THRESHOLD)
    )
