"""Opening accounts at the custodian: the request out, the number back by signed webhook.

`account_opening_request` sends a pending account's owners (their customer-identification
data, the taxpayer id decrypted only for this call) to the custodian under a request id
that is the same on every retry; the custodian answers later with `account.opened`
(`account_opening_apply_event` records the number through portfolios and the account opens)
or `account.rejected`. A call that fails is recorded and can be asked again.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kronos.history import save_attributed
from portfolios import services as portfolio_services
from portfolios.errors import PortfoliosError
from portfolios.models import InvestmentAccount
from trading.adapters.custodian import AccountOpenRequest, AccountOwnerInfo, CustodianError, get_custodian
from trading.errors import TradingError
from trading.models import CustodianAccountRequest, OutboxMessage
from trading.services.common import relay_after_commit

logger = logging.getLogger(__name__)


def _owner_info(account: InvestmentAccount) -> tuple[AccountOwnerInfo, ...]:
    owners = list(account.owners.select_related("investor").order_by("id"))
    infos = []
    for owner in owners:
        inv = owner.investor
        infos.append(
            AccountOwnerInfo(
                reference=f"investor-{inv.pk}",
                role=owner.role,
                first_name=inv.first_name,
                last_name=inv.last_name,
                date_of_birth=inv.date_of_birth.isoformat() if inv.date_of_birth else "",
                email=inv.email,
                phone=inv.phone,
                tax_id=inv.tax_id_plain(),
                citizenship=inv.citizenship,
                address={
                    "line1": inv.address_line1,
                    "line2": inv.address_line2,
                    "city": inv.city,
                    "state": inv.state,
                    "postal_code": inv.postal_code,
                    "country": inv.country,
                },
            )
        )
    return tuple(infos)


def account_opening_request(
    *, account: InvestmentAccount, acting_user: User, custodian: Any = None
) -> CustodianAccountRequest:
    """Ask the custodian to open a pending account (once: an account asked for before is asked
    again only after a failed call, under the same request id). Refuses an account that is
    not pending or has no owners. A failed call is recorded (status failed) and not raised:
    the caller shows it and a later advance asks again."""
    with transaction.atomic():
        account = InvestmentAccount.objects.select_for_update().get(pk=account.pk)
        if account.status != InvestmentAccount.Status.PENDING:
            raise TradingError("The account is already open at the custodian.", code="not_pending")
        request = CustodianAccountRequest.objects.filter(account=account).first()
        if request is not None and request.status in (
            CustodianAccountRequest.Status.REQUESTED,
            CustodianAccountRequest.Status.OPENED,
        ):
            return request
        if request is None:
            request = CustodianAccountRequest(account=account, request_id=f"open-{account.pk}-{uuid.uuid4().hex[:12]}")
        owners = _owner_info(account)
        if not owners:
            raise TradingError("The account has no owners to open it for.", field="owners")
        open_request = AccountOpenRequest(
            request_id=request.request_id,
            account_type=account.account_type,
            title=account.name,
            currency=account.base_currency,
            owners=owners,
            fractional_shares=account.fractional_shares,
        )
        request.attempts += 1
        request.requested_at = timezone.now()
        save_attributed(request, acting_user=acting_user, reason="asked the custodian", validate=False)
    # The call goes out after the commit of the request row, so a timeout leaves a row to retry.
    custodian = custodian or get_custodian()
    try:
        ack = custodian.open_account(open_request)
    except CustodianError as exc:
        logger.warning("custodian account opening failed", extra={"account_id": account.pk, "error": str(exc)})
        request.status = CustodianAccountRequest.Status.FAILED
        request.last_error = str(exc)[:300]
        save_attributed(request, acting_user=acting_user, reason="custodian call failed", validate=False)
        return request
    request.status = CustodianAccountRequest.Status.REQUESTED
    request.last_error = ""
    save_attributed(request, acting_user=acting_user, reason="custodian took the request", validate=False)
    if ack.status == "opened" and ack.account_number:
        account_opening_record(request_id=request.request_id, number=ack.account_number, acting_user=acting_user)
        request.refresh_from_db()
    return request


@transaction.atomic
def account_opening_record(*, request_id: str, number: str, acting_user: User) -> str:
    """The custodian opened the account: record its number and open it. A repeat changes nothing."""
    request = CustodianAccountRequest.objects.select_for_update().filter(request_id=request_id).first()
    if request is None:
        raise TradingError(f"No account-opening request {request_id!r}.", field="request_id")
    try:
        portfolio_services.account_custodian_opened(account=request.account, number=number, acting_user=acting_user)
    except PortfoliosError as exc:
        raise TradingError(exc.message, field="account_number") from exc
    if request.status == CustodianAccountRequest.Status.OPENED:
        return "duplicate"
    request.status = CustodianAccountRequest.Status.OPENED
    request.opened_at = timezone.now()
    request.last_error = ""
    save_attributed(request, acting_user=acting_user, reason="opened at the custodian", validate=False)
    portfolio_services.account_opened_emit(
        InvestmentAccount.objects.select_related("household").get(pk=request.account_id)
    )
    return "account opened"


@transaction.atomic
def account_opening_rejected(*, request_id: str, reason: str, acting_user: User) -> str:
    request = CustodianAccountRequest.objects.select_for_update().filter(request_id=request_id).first()
    if request is None:
        raise TradingError(f"No account-opening request {request_id!r}.", field="request_id")
    if request.status == CustodianAccountRequest.Status.OPENED:
        return "ignored"
    request.status = CustodianAccountRequest.Status.REJECTED
    request.last_error = (reason or "The custodian rejected the account.")[:300]
    save_attributed(request, acting_user=acting_user, reason="custodian rejected the account", validate=False)
    return "account rejected"


def custodian_settings_queue(*, account: InvestmentAccount, changed: frozenset[str]) -> None:
    """portfolios' account-settings hook (`portfolios.checks.ACCOUNT_SETTINGS_CHANGED_HOOKS`): a
    change of whether an open account trades fractional shares is sent to the custodian, which
    keeps a split's fractions by it -- through the outbox, in the change's transaction, so the
    call is made once the change commits and again until the custodian takes it. The relay sends
    the account's setting as it is when it sends (a later change is not undone by an earlier one)."""
    if "fractional_shares" not in changed or not account.custodian_account_number:
        return
    OutboxMessage.objects.create(kind=OutboxMessage.Kind.ACCOUNT_SETTINGS, account=account)
    relay_after_commit()
