"""Compliance test data: KYC states, risk profiles, and accounts with cash and holdings."""

from decimal import Decimal

from accounts.models import Investor
from accounts.services import system_user
from compliance import services
from compliance.models import KYCVerification, RiskProfile
from kronos.history import save_attributed

# Answers that score each of these risk levels.
ANSWERS_LEVEL = {
    7: {
        "time_horizon": "10to20",
        "objective": "growth",
        "loss_tolerance": "hold",
        "income": "growing",
        "liquidity": "some",
    },
    3: {
        "time_horizon": "3to5",
        "objective": "income",
        "loss_tolerance": "sell_some",
        "income": "unstable",
        "liquidity": "half",
    },
    10: {
        "time_horizon": "gt20",
        "objective": "aggressive",
        "loss_tolerance": "buy_more",
        "income": "independent",
        "liquidity": "none",
    },
}


def kyc(investor: Investor, status: str = KYCVerification.Status.APPROVED) -> KYCVerification:
    verification, _ = KYCVerification.objects.get_or_create(investor=investor)
    verification.status = status
    verification.provider_reference = f"test-{investor.pk}-{status}"
    return save_attributed(verification, acting_user=system_user(), reason="test")


def profile(investor: Investor, level: int = 7) -> RiskProfile:
    return services.risk_profile_submit(investor=investor, answers=ANSWERS_LEVEL[level], acting_user=system_user())


def hold(account, *, cash: Decimal = Decimal("0"), positions: dict | None = None) -> None:
    """Give an account cash and positions, transferred in through portfolios' ledger service."""
    from datetime import date

    from portfolios.services import transfer_in

    transfer_in(
        account=account,
        positions=[
            {"symbol": sec.symbol, "quantity": qty, "cost_basis": qty * Decimal("90"), "acquired_on": date(2020, 1, 2)}
            for sec, qty in (positions or {}).items()
        ],
        cash=cash,
        acting_user=system_user(),
        idempotency_key=f"compliance-test-fund-{account.pk}",
    )
