"""The AML screening provider, shaped like ComplyAdvantage's search API.

`get_provider()` returns the adapter chosen by settings.AML_ADAPTER. The sandbox screens
against the local watch list (`WatchlistEntry`, loaded by `import_watchlist`) with the fuzzy
matcher of `compliance.matching`, and answers in ComplyAdvantage's response shape
({"content": {"data": {"total_hits", "hits": [{"doc": ..., "match_score": ...}]}}}).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings

from compliance import matching


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


class SandboxAMLProvider:
    """Screens against the local watch list; the answer has ComplyAdvantage's shape."""

    name = "sandbox"

    def __init__(self) -> None:
        self._candidates: list[matching.Candidate] | None = None

    def candidates(self) -> list[matching.Candidate]:
        # Loaded once per provider instance, so a rescreen of every investor reads the list once.
        if self._candidates is None:
            from compliance.models import WatchlistEntry

            self._candidates = [
                matching.Candidate(
                    ref=str(e.pk),
                    name=e.name,
                    aliases=tuple(e.alias_list),
                    date_of_birth=e.date_of_birth,
                    country=e.country,
                    list_name=e.list_name,
                )
                for e in WatchlistEntry.objects.filter(is_active=True).order_by("id")
            ]
        return self._candidates

    def search(self, *, name: str, date_of_birth: date | None, country: str) -> dict[str, Any]:
        subject = matching.Subject(name=name, date_of_birth=date_of_birth, country=country)
        found = matching.screen(subject, self.candidates(), threshold=settings.AML_MATCH_THRESHOLD)
        return {
            "content": {
                "data": {
                    "search_term": name,
                    "total_hits": len(found),
                    "hits": [
                        {
                            "doc": {
                                "id": m.ref,
                                "name": m.name,
                                "matched_name": m.matched_name,
                                "types": [m.list_name],
                            },
                            "match_score": str(m.score),
                            "name_score": str(m.name_score),
                            "match_reasons": list(m.reasons),
                        }
                        for m in found
                    ],
                }
            }
        }


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


def get_provider() -> AMLProvider:
    if settings.AML_ADAPTER == "sandbox":
        return SandboxAMLProvider()
    raise ValueError(f"Unknown AML adapter {settings.AML_ADAPTER!r}.")
