"""The demo's trading history: deposits, a few filled orders, and one drifted account with a
pending rebalance proposal. Fills are applied as the custodian's webhooks would apply them
(no network needed when seeding)."""

import uuid
from decimal import Decimal
from typing import Any

from django.test import override_settings
from django.utils import timezone

from portfolios.models import InvestmentAccount
from trading import services


def seed(demo: Any) -> None:
    accounts = list(
        InvestmentAccount.objects.filter(household__advisor=demo.advisor, model__isnull=False)
        .select_related("household")
        .order_by("id")[:4]
    )
    if not accounts:
        return
    user = demo.advisor.user
    # Seeding runs without the compliance hooks (the demo's KYC is seeded elsewhere) and
    # without queuing Celery: the bank's answer and the fills are applied right here.
    with override_settings(TRADING_PRETRADE_CHECKS=[], TRADING_FUNDING_CHECKS=[], TRADING_RELAY_ON_COMMIT=False):
        for i, account in enumerate(accounts):
            transfer = services.transfer_create(
                account=account,
                direction="deposit",
                amount=Decimal("250000.00") if i == len(accounts) - 1 else Decimal("5000.00") + 1000 * i,
                currency=account.base_currency,
                acting_user=user,
                idempotency_key=f"demo-deposit-{account.pk}",
            )
            services.transfer_status_apply(transfer=transfer, bank_status="settled", acting_user=user)
            symbol = account.model.targets.select_related("security").first().security.symbol  # type: ignore[union-attr]
            order = services.order_create(
                account=account,
                security=symbol,
                side="buy",
                amount=Decimal("2000.00"),
                acting_user=user,
                source="advisor",
                idempotency_key=f"demo-order-{account.pk}",
            )
            if order.status == "approved":
                quantity = (order.amount / order.estimated_price).quantize(Decimal("0.000000001"))  # type: ignore[operator]
                services.execution_apply(
                    fill=services.Fill(
                        client_order_id=order.client_order_id,
                        execution_id=f"DEMO-{uuid.uuid5(uuid.NAMESPACE_URL, order.client_order_id).hex[:12]}",
                        quantity=quantity,
                        price=order.estimated_price,
                        trade_date=timezone.localdate(),
                        order_quantity=quantity,
                    ),
                    acting_user=user,
                )
                order.outbox.update(status="sent")  # the demo's custodian "received" it
        # The last account drifted by the deposits: leave its proposal for the advisor.
        services.proposal_create_for_accounts(account_ids=[accounts[-1].pk], acting_user=user)
