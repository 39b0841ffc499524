"""The simulation's settings (`Config`, what `simulate_firm` passes), its summary and its constants."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sandboxes.simulation import independent
from sandboxes.simulation.invariants import Violation

NY = ZoneInfo("America/New_York")
ZERO = Decimal(0)
CENT = Decimal("0.01")
SECRET = "simulation-webhook-secret"  # noqa: S105  # nosec B105 -- the sandbox's, not a credential
# The firm's fee schedule: marginal tiers of basis points a year.
FEE_TIERS = [
    independent.Tier(Decimal("1000000"), Decimal("100")),
    independent.Tier(Decimal("5000000"), Decimal("75")),
    independent.Tier(None, Decimal("50")),
]
MODEL_NAMES = ["Growth", "Balanced", "Income tilt", "Core equity", "Diversified"]


@dataclass
class Config:
    accounts: int = 100
    days: int = 60
    seed: int = 1
    faults: bool = False
    start: date | None = None
    csv_path: Path | None = None
    data_dir: Path | None = None
    automatic_share: float = 0.3  # accounts in automatic mode; the rest wait for their advisor
    rounds: int = 4  # trading rounds a day
    end_days: int = 3  # business days an order may stay open
    twr_sample: int = 200  # accounts whose return is checked each day (all of them on the last)
    kill_worker: bool | None = None  # default: with --faults
    verbose: bool = False  # keep the services' log lines
    # Corporate actions the run must have whatever its length ("dividend", "split", "reverse_split"):
    # one each, on held symbols, on days spread over the run (market.corporate_actions).
    force_actions: tuple[str, ...] = ()
    reinvest_share: int = 3  # every n-th account reinvests its dividends
    fractional_share: int = 0  # every n-th account takes fractional shares (0: none)
    # Every n-th household of the opening book also holds a traditional IRA on the same model, the
    # two accounts a rebalancing group (household rebalancing and asset location); 0: none.
    group_share: int = 4
    # Tax-loss harvesting on: substitution pairs for every model target, the firm's settings, the
    # daily scan at 16:30 (its proposals approved by the advisors in the morning).
    harvesting: bool = True
    out: Callable[[str], None] = print


@dataclass
class Summary:
    business_days: int = 0
    calendar_days: int = 0
    accounts: int = 0
    orders: int = 0
    fills: int = 0
    breaks: int = 0
    unreconciled: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def days_per_second(self) -> float:
        return self.business_days / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        extra = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return [
            f"days {self.business_days} (business; {self.calendar_days} calendar), accounts {self.accounts}, "
            f"orders {self.orders}, fills {self.fills}, breaks {self.breaks}, violations {len(self.violations)}, "
            f"{self.days_per_second:.3f} days/s ({self.seconds:.1f} s)",
            f"also: {extra}",
        ]
