"""List (and with --apply, align) the accounts of active household rebalancing groups that are on a
model other than their group's.

A grouped account is planned, harvested and measured on its group's model; since `model_assign`
and `rebalancing_group_create` keep every member on it, such an account was made before that
rule (the 2,000-account firm year found one: switched to a model of its own while grouped). It
exits non-zero while any is left, so it serves as a check as well as a repair.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import F

from accounts.services import system_user
from kronos.errors import DomainError
from portfolios.models import InvestmentAccount, RebalancingGroupMember
from portfolios.services import model_assign


class Command(BaseCommand):
    help = "List the grouped accounts on a model other than their group's; --apply puts each on its group's model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Assign each its group's model (through the assignment's checks, as the system user).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        members = list(
            RebalancingGroupMember.objects.filter(group__is_active=True)
            .exclude(account__status=InvestmentAccount.Status.CLOSED)
            .exclude(account__model_id=F("group__model_id"))
            .select_related("account__model", "account__household", "group__model")
            .order_by("account_id")
        )
        left = aligned = 0
        for member in members:
            account, group = member.account, member.group
            line = (
                f"{account.custodian_account_number} {account.name} ({account.household.name}): on "
                f"{account.model.name if account.model else 'no model'}, its group {group.name} on {group.model.name}"
            )
            if not options["apply"]:
                self.stdout.write(line)
                left += 1
                continue
            try:
                with transaction.atomic():
                    model_assign(
                        account=account,
                        model=group.model,
                        acting_user=system_user(),
                        reason=f"aligned with its group {group.name}",
                    )
            except DomainError as exc:
                self.stderr.write(f"{line}: not aligned: {exc.message}")
                left += 1
            else:
                self.stdout.write(f"{line}: aligned")
                aligned += 1
        if left:
            raise CommandError(
                f"{left} grouped account{'s are' if left != 1 else ' is'} on a model other than {'their' if left != 1 else 'its'} group's."
            )
        now = f" ({aligned} aligned now)" if aligned else ""
        self.stdout.write(self.style.SUCCESS(f"Every grouped account is on its group's model{now}."))
