"""The account types' ownership and beneficiary rules, checked when an account is opened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from accounts.identification import is_minor
from accounts.models import Household
from accounts.services import firm_today
from portfolios.models import (
    Beneficiary,
    InvestmentAccount,
)


@dataclass(frozen=True)
class BeneficiarySpec:
    name: str
    relationship: str
    share_percent: Decimal
    kind: str = "primary"


def _business_date(household: Household) -> date:
    return firm_today(household.firm)


def ownership_errors(
    *, household: Household, account_type: str, owners: Sequence[Any], beneficiaries: Sequence[BeneficiarySpec]
) -> tuple[dict[str, list[str]], list[tuple[Any, str]]]:
    """The rules of each account type (field errors), and each owner's role.

    individual, IRAs: exactly one owner, an adult for an individual account (a minor's
    account is a UTMA/UGMA); joint: two or more adult owners; UTMA/UGMA: one adult custodian
    and one minor; trust: one or more trustees; entity: one or more authorized signers.
    Every owner must be a member of the household. An IRA names primary beneficiaries whose
    shares sum to exactly 100 (contingent ones, if any, also to 100)."""
    errors: dict[str, list[str]] = {}
    roles: list[tuple[Any, str]] = []
    today = _business_date(household)
    T = InvestmentAccount.AccountType
    members = set(household.members.values_list("investor_id", flat=True))
    strangers = [o for o in owners if o.pk not in members]
    if strangers:
        errors["owners"] = [
            f"Investor {', '.join(str(o.pk) for o in strangers)} is not a member of this household: add them first."
        ]
        return errors, roles
    if len({o.pk for o in owners}) != len(owners):
        errors["owners"] = ["An investor is listed twice."]
        return errors, roles
    minors = [o for o in owners if is_minor(o.date_of_birth, today)]
    adults = [o for o in owners if o not in minors]
    n = len(owners)
    if account_type == T.JOINT:
        if n < 2:
            errors["owners"] = ["A joint account needs at least two owners."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18: a joint owner must be an adult."]
        roles = [(o, "owner") for o in owners]
    elif account_type in InvestmentAccount.CUSTODIAL_TYPES:
        if n != 2 or len(minors) != 1:
            errors["owners"] = ["A UTMA/UGMA account has two owners: an adult custodian and the minor it is for."]
        else:
            roles = [(adults[0], "custodian"), (minors[0], "minor")]
    elif account_type == T.TRUST:
        if n < 1:
            errors["owners"] = ["A trust account needs at least one trustee."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18 and cannot be a trustee."]
        roles = [(o, "trustee") for o in owners]
    elif account_type == T.ENTITY:
        if n < 1:
            errors["owners"] = ["An entity account needs at least one authorized signer."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18 and cannot sign for an entity."]
        roles = [(o, "signer") for o in owners]
    else:  # individual and the IRAs
        label = InvestmentAccount.AccountType(account_type).label
        if n != 1:
            errors["owners"] = [
                f"An {label} account has exactly one owner."
                if label[0] in "AEIOU"
                else f"A {label} account has exactly one owner."
            ]
        elif account_type == T.INDIVIDUAL and minors:
            errors["owners"] = [
                f"{minors[0].full_name} is under 18 on {today:%Y-%m-%d} and cannot be the sole owner of an "
                "individual account: open a UTMA or UGMA account with an adult custodian."
            ]
        roles = [(o, "owner") for o in owners]
    if account_type in InvestmentAccount.IRA_TYPES:
        primaries = [b for b in beneficiaries if b.kind == Beneficiary.Kind.PRIMARY]
        contingents = [b for b in beneficiaries if b.kind == Beneficiary.Kind.CONTINGENT]
        if not primaries:
            errors["beneficiaries"] = ["An IRA needs at least one primary beneficiary."]
        elif sum((b.share_percent for b in primaries), Decimal(0)) != 100:
            errors["beneficiaries"] = ["The primary beneficiaries' shares must add up to exactly 100%."]
        elif contingents and sum((b.share_percent for b in contingents), Decimal(0)) != 100:
            errors["beneficiaries"] = ["The contingent beneficiaries' shares must add up to exactly 100%."]
    for b in beneficiaries:
        if not b.name.strip() or not b.relationship.strip():
            errors.setdefault("beneficiaries", []).append("Each beneficiary needs a name and a relationship.")
            break
        if not (0 < b.share_percent <= 100) or b.share_percent != b.share_percent.quantize(Decimal("0.01")):
            errors.setdefault("beneficiaries", []).append(
                "Each share is a percent above 0 and at most 100, to 2 places."
            )
            break
        if b.kind not in Beneficiary.Kind.values:
            errors.setdefault("beneficiaries", []).append("A beneficiary is primary or contingent.")
            break
    return errors, roles
