"""The AML provider's client. The sandbox screens against the local watch list (`WatchlistEntry`,
loaded by `import_watchlist`) with the fuzzy matcher of `compliance.engine.matching`, and answers in
ComplyAdvantage's response shape."""

from datetime import date
from typing import Any

from django.conf import settings

from compliance.engine import matching
from compliance.models import WatchlistEntry


class SandboxAMLProvider:
    """Screens against the local watch list; the answer has ComplyAdvantage's shape."""

    name = "sandbox"

    def __init__(self) -> None:
        self._candidates: list[matching.Candidate] | None = None

    def candidates(self) -> list[matching.Candidate]:
        # Loaded once per provider instance, so a rescreen of every investor reads the list once.
        if self._candidates is None:
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
