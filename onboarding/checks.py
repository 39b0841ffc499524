"""Trading's funding check (trading.checks.FUNDING_CHECKS, registered in onboarding's AppConfig):
no deposit or withdrawal in an account opened through Kronos until every owner has signed the
advisory agreement, the Form ADV receipt and the privacy notice. Accounts recorded with a
custodian number of their own (transferred or imported, never asked of the custodian by Kronos)
carry their agreements from before and are not held here."""

from onboarding.services import agreements_complete
from portfolios.models import InvestmentAccount
from trading.models import CustodianAccountRequest


def account_agreement_signed(account: InvestmentAccount) -> tuple[bool, str]:
    if account.status == InvestmentAccount.Status.PENDING:
        return False, "The account is still being opened at the custodian; it can be funded once it is open."
    if not CustodianAccountRequest.objects.filter(account_id=account.pk).exists():
        return True, ""
    return agreements_complete(account=account)
