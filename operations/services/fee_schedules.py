"""Fee schedules (flat or marginal tiers) and their assignment to households."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from accounts.models import Firm, Household, User
from kronos.history import save_attributed
from operations.engine import fees
from operations.errors import OperationsError
from operations.models import AccountBilling, BillingSettings, FeeAssignment, FeeSchedule, FeeTier
from portfolios.models import InvestmentAccount, Security

ZERO = Decimal(0)


@transaction.atomic
def fee_schedule_create(
    *,
    firm: Firm,
    name: str,
    acting_user: User,
    method: str = FeeSchedule.Method.FLAT,
    flat_bps: Decimal = ZERO,
    tiers: Iterable[tuple[Decimal | None, Decimal]] = (),
    basis: str = FeeSchedule.Basis.AVERAGE_DAILY_BALANCE,
    timing: str = FeeSchedule.Timing.ARREARS,
    cycle: str = FeeSchedule.Cycle.QUARTERLY,
    aggregate_household: bool = False,
    minimum_annual_fee: Decimal = ZERO,
    excluded_securities: Iterable[Security] = (),
) -> FeeSchedule:
    """A flat or marginal-tiered schedule. Tiers are (cumulative upper bound or None, bps a year),
    strictly increasing bounds, exactly one unbounded top tier; rates are 0 to 10,000 bps; the
    minimum annual fee is not negative; timing, cycle and basis are among their choices."""
    tier_list = [(None if up is None else Decimal(up), Decimal(bps)) for up, bps in tiers]
    if method == FeeSchedule.Method.TIERED:
        if not tier_list:
            raise OperationsError("A tiered schedule needs tiers.", field="tiers")
        bounds = [up for up, _ in tier_list if up is not None]
        if sum(1 for up, _ in tier_list if up is None) != 1 or tier_list[-1][0] is not None:
            raise OperationsError("The last tier, and only it, must have no upper bound.", field="tiers")
        if bounds != sorted(set(bounds)) or any(b <= 0 for b in bounds):
            raise OperationsError("Tier bounds must be positive and increase.", field="tiers")
    rates = [bps for _, bps in tier_list] + [Decimal(flat_bps)]
    if any(r < 0 or r > 10000 for r in rates):
        raise OperationsError("A rate must be between 0 and 10,000 basis points.", field="flat_bps")
    if Decimal(minimum_annual_fee) < 0:
        raise OperationsError("A minimum fee cannot be negative.", field="minimum_annual_fee")
    excluded = list(excluded_securities)
    schedule = FeeSchedule(
        firm=firm,
        name=name.strip(),
        method=method,
        flat_bps=Decimal(flat_bps),
        basis=basis,
        timing=timing,
        cycle=cycle,
        aggregate_household=aggregate_household,
        minimum_annual_fee=Decimal(minimum_annual_fee),
    )
    try:
        save_attributed(schedule, acting_user=acting_user, reason="fee schedule created")
    except ValidationError as exc:
        raise OperationsError.from_validation(exc) from exc
    if method == FeeSchedule.Method.TIERED:
        bulk_create_with_history(
            [FeeTier(schedule=schedule, up_to=up, bps=bps) for up, bps in tier_list],
            FeeTier,
            default_user=acting_user,
            default_change_reason="fee schedule created",
        )
    if excluded:
        schedule._history_user = acting_user  # type: ignore[attr-defined]
        schedule.excluded_securities.set(excluded)
    return schedule


@transaction.atomic
def fee_schedule_assign(*, household: Household, schedule: FeeSchedule, acting_user: User) -> FeeAssignment:
    if schedule.firm_id != household.firm_id:
        raise OperationsError("The fee schedule belongs to another firm.", field="schedule")
    assignment = FeeAssignment.objects.select_for_update().filter(household=household).first()
    if assignment is None:
        assignment = FeeAssignment(household=household, schedule=schedule)
    assignment.schedule = schedule
    return save_attributed(assignment, acting_user=acting_user, reason="fee schedule assigned")


@transaction.atomic
def account_billing_set(
    *,
    account: InvestmentAccount,
    acting_user: User,
    schedule: FeeSchedule | None = None,
    excluded: bool = False,
    paid_from: InvestmentAccount | None = None,
) -> AccountBilling:
    """How one account is billed: its own schedule (else its household's), left out of billing,
    or its fee debited from `paid_from`, another account of the same household. Idempotent."""
    if schedule is not None and schedule.firm_id != account.household.firm_id:
        raise OperationsError("The fee schedule belongs to another firm.", field="schedule")
    if paid_from is not None:
        if paid_from.pk == account.pk:
            raise OperationsError("An account paying its own fee needs no fee-paying account.", field="paid_from")
        if paid_from.household_id != account.household_id:
            raise OperationsError("The fee-paying account must be in the same household.", field="paid_from")
    billing = AccountBilling.objects.select_for_update().filter(account=account).first()
    if billing is None:
        billing = AccountBilling(account=account)
    wanted = (getattr(schedule, "pk", None), excluded, getattr(paid_from, "pk", None))
    if billing.pk and (billing.schedule_id, billing.excluded, billing.paid_from_id) == wanted:
        return billing  # a retry: nothing changes
    billing.schedule = schedule
    billing.excluded = excluded
    billing.paid_from = paid_from
    return save_attributed(billing, acting_user=acting_user, reason="account billing set")


@transaction.atomic
def billing_settings_set(*, firm: Firm, credit_withdrawals: bool, acting_user: User) -> BillingSettings:
    """The firm's billing policy (see BillingSettings). Idempotent."""
    settings = BillingSettings.objects.select_for_update().filter(firm=firm).first() or BillingSettings(firm=firm)
    if settings.pk and settings.credit_withdrawals == credit_withdrawals:
        return settings
    settings.credit_withdrawals = credit_withdrawals
    return save_attributed(settings, acting_user=acting_user, reason="billing settings")


def schedule_tiers(schedule: FeeSchedule) -> list[fees.Tier]:
    if schedule.method == FeeSchedule.Method.FLAT:
        return [fees.Tier(up_to=None, bps=schedule.flat_bps)]
    return [fees.Tier(up_to=t.up_to, bps=t.bps) for t in schedule.tiers.all()]
