from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "Onboarding and agreements"

    def ready(self) -> None:
        # Imported here, not at module top: an AppConfig module is imported before the models exist.
        from compliance.hooks import KYC_DECIDED_HOOKS
        from onboarding.checks import account_agreement_signed
        from onboarding.services import account_created, kyc_decided
        from portfolios.checks import ACCOUNT_CREATED_HOOKS
        from trading.checks import FUNDING_CHECKS

        FUNDING_CHECKS.register("onboarding.agreements_signed", account_agreement_signed)
        KYC_DECIDED_HOOKS.register("onboarding.kyc_decided", kyc_decided)
        ACCOUNT_CREATED_HOOKS.register("onboarding.account_created", account_created)
