"""The demo firm's documents to sign (version 2026-01 of each), so a household onboarded in
the demo can be signed for and funded. Idempotent through seed_demo's own guard."""

from typing import Any

from onboarding.models import AgreementKind
from onboarding.services import template_upload

TEXTS = {
    AgreementKind.ADVISORY_AGREEMENT: (
        "Investment advisory agreement",
        "This agreement is between the client and Meridian Wealth Partners (the adviser), a registered "
        "investment adviser.\n\nThe adviser manages the client's accounts on a discretionary basis according to "
        "the model portfolio suited to the client's risk profile, and rebalances them when they drift.\n\n"
        "The client pays an advisory fee, billed quarterly in arrears from the account, as set out in the fee "
        "schedule.\n\nEither party may end this agreement by written notice. (Demo text, not legal advice.)",
    ),
    AgreementKind.FORM_ADV: (
        "Form ADV Part 2A brochure — receipt",
        "The client confirms receiving the adviser's Form ADV Part 2A brochure and Part 2B brochure supplement, "
        "which describe the adviser's services, fees, conflicts of interest and disciplinary history.\n\n"
        "(Demo text.)",
    ),
    AgreementKind.PRIVACY_NOTICE: (
        "Privacy notice",
        "The adviser collects the personal information needed to open and service the client's accounts, "
        "shares it only with the custodian and service providers as the law allows, and protects it with "
        "encryption and access controls.\n\n(Demo text.)",
    ),
}


def seed(demo: Any) -> None:
    for kind, (title, body) in TEXTS.items():
        template_upload(
            firm=demo.firm, kind=kind, version="2026-01", title=title, body=body, acting_user=demo.acting_user
        )
