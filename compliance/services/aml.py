"""AML: screening investors against the watch list, the cases a match opens, rescreening, and
importing the list. A rescreen opens no second case for the same match.
"""

import csv
import io
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import Investor, User
from accounts.services import event_emit, system_user
from compliance.adapters import aml as aml_adapter
from compliance.errors import ComplianceError
from compliance.models import AMLCase, AMLScreening, WatchlistEntry
from compliance.services.common import append_note, save_or_error


def _aml_case_event(kind: str, case: AMLCase, firm_id: int) -> None:
    event_emit(
        kind=kind,
        firm=firm_id,
        investor=case.investor_id,
        subject_type="aml_case",
        subject_id=case.pk,
        payload={"case": case.pk, "investor": case.investor_id, "status": case.status},
    )


def aml_screen_investor(
    *,
    investor: Investor,
    trigger: str,
    acting_user: User | None,
    provider: aml_adapter.AMLProvider | None = None,
) -> AMLScreening:
    """Screen one investor's name, birth date and country; a hit at or above
    settings.AML_MATCH_THRESHOLD opens a case (at most one open per investor), which freezes
    trading. A hit a compliance officer already cleared for the same list entries opens none."""
    provider = provider or aml_adapter.get_provider()
    found = aml_adapter.screen(
        provider, name=investor.full_name, date_of_birth=investor.date_of_birth, country=investor.country
    )
    return aml_record_screening(investor=investor, found=found, trigger=trigger, acting_user=acting_user)


def aml_record_screening(
    *, investor: Investor, found: aml_adapter.ScreeningResult, trigger: str, acting_user: User | None
) -> AMLScreening:
    """Store a screening's result and open a case on a hit (see aml_screen_investor)."""
    with transaction.atomic():
        screening = AMLScreening(
            investor=investor,
            trigger=trigger,
            provider=found.provider,
            best_score=found.best_score,
            matches=[h.as_json() for h in found.hits[:10]],
            is_hit=found.is_hit,
        )
        save_or_error(screening, acting_user=acting_user, reason=f"AML screening ({trigger})")
        if found.is_hit:
            _open_case_for(screening=screening, hits=found.hits, threshold=found.threshold, acting_user=acting_user)
    return screening


def _open_case_for(
    *, screening: AMLScreening, hits: list[aml_adapter.Hit], threshold: Any, acting_user: User | None
) -> AMLCase | None:
    hit_refs = {h.ref for h in hits if h.score >= threshold}
    cases = AMLCase.objects.select_for_update().filter(investor_id=screening.investor_id)
    for case in cases:
        case_refs = {m["ref"] for m in case.matches}
        if case.status in AMLCase.FREEZING:
            return None  # already frozen by an open or confirmed case
        if case.status == AMLCase.Status.CLEARED and hit_refs <= case_refs:
            return None
    case = AMLCase(
        investor_id=screening.investor_id,
        screening=screening,
        best_score=screening.best_score,
        matches=[h.as_json() for h in hits if h.score >= threshold],
    )
    save_or_error(case, acting_user=acting_user, reason="AML case opened")
    _aml_case_event("aml.case_opened", case, screening.investor.firm_id)
    return case


def aml_rescreen_all(*, acting_user: User | None = None, chunk_size: int = 500) -> dict[str, int]:
    """Job: rescreen every investor against the current watch list (the list is read once)."""
    acting_user = acting_user or system_user()
    provider = aml_adapter.get_provider()
    counts = {"screened": 0, "hits": 0}
    investors = Investor.objects.order_by("id")
    for investor in investors.iterator(chunk_size=chunk_size):
        screening = aml_screen_investor(
            investor=investor, trigger=AMLScreening.Trigger.SCHEDULED, acting_user=acting_user, provider=provider
        )
        counts["screened"] += 1
        counts["hits"] += int(screening.is_hit)
    return counts


@transaction.atomic
def aml_case_decide(*, case: AMLCase, decision: str, note: str, acting_user: User) -> AMLCase:
    """Clear a case as a false positive (unfreezes trading) or confirm the match (stays frozen).
    A note saying why is required either way."""
    if decision not in (AMLCase.Status.CLEARED, AMLCase.Status.CONFIRMED):
        raise ComplianceError("Choose clear or confirm.", field="decision")
    if not (note or "").strip():
        raise ComplianceError("Write a note saying why.", field="note")
    case = AMLCase.objects.select_for_update().get(pk=case.pk)
    if case.status != AMLCase.Status.OPEN:
        raise ComplianceError(f"This case is already {case.get_status_display().lower()}.", code="case_closed")
    case.status = decision
    case.decided_at = timezone.now()
    case.decided_by = acting_user
    case.notes = append_note(case.notes, note=note, acting_user=acting_user)
    save_or_error(case, acting_user=acting_user, reason=f"AML case {decision}")
    _aml_case_event("aml.case_updated", case, case.investor.firm_id)
    return case


WATCHLIST_COLUMNS = ("name", "aliases", "date_of_birth", "country", "list")


def watchlist_import(*, csv_text: str, acting_user: User | None) -> dict[str, int]:
    """Load a watch list CSV (name, aliases, date_of_birth, country, list). Rows already
    present (same list, name and birth date) are updated; a bad row refuses the whole file
    with its line number."""
    reader = csv.DictReader(io.StringIO(csv_text))
    missing = set(WATCHLIST_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ComplianceError(f"The watch list is missing columns: {', '.join(sorted(missing))}.")
    parsed: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        name = (row["name"] or "").strip()
        if not name:
            raise ComplianceError(f"Line {line}: the name is empty.")
        born = None
        if (row["date_of_birth"] or "").strip():
            try:
                born = date.fromisoformat(row["date_of_birth"].strip())
            except ValueError as exc:
                raise ComplianceError(f"Line {line}: date of birth must be YYYY-MM-DD.") from exc
        country = (row["country"] or "").strip().upper()
        if country and len(country) != 2:
            raise ComplianceError(f"Line {line}: country must be a 2-letter code.")
        aliases = ";".join(a.strip() for a in (row["aliases"] or "").replace("|", ";").split(";") if a.strip())
        parsed.append(
            {
                "name": name,
                "aliases": aliases,
                "date_of_birth": born,
                "country": country,
                "list_name": (row["list"] or "").strip() or "unspecified",
            }
        )
    with transaction.atomic():
        existing = {
            (e.list_name, e.name, e.date_of_birth): e
            for e in WatchlistEntry.objects.filter(name__in={p["name"] for p in parsed})
        }
        new, changed = [], []
        for p in parsed:
            entry = existing.get((p["list_name"], p["name"], p["date_of_birth"]))
            if entry is None:
                new.append(WatchlistEntry(**p))
            elif (entry.aliases, entry.country, entry.is_active) != (p["aliases"], p["country"], True):
                entry.aliases, entry.country, entry.is_active = p["aliases"], p["country"], True
                changed.append(entry)
        bulk_create_with_history(new, WatchlistEntry, batch_size=1000, default_user=acting_user)
        if changed:
            bulk_update_with_history(
                changed, WatchlistEntry, ["aliases", "country", "is_active"], batch_size=1000, default_user=acting_user
            )
    return {"created": len(new), "updated": len(changed), "unchanged": len(parsed) - len(new) - len(changed)}
