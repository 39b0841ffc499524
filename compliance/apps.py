from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self) -> None:
        # Imported here, not at module top: an AppConfig module is imported before the models exist.
        from compliance.permissions import register_read_cache_scopes
        from compliance.pretrade import account_may_transact, run_pretrade_checks
        from compliance.suitability import check_model_assignment
        from portfolios.checks import MODEL_ASSIGN_CHECKS
        from trading.checks import FUNDING_CHECKS, PRETRADE_CHECKS

        PRETRADE_CHECKS.register("compliance.pretrade", run_pretrade_checks)
        FUNDING_CHECKS.register("compliance.account_may_transact", account_may_transact)
        MODEL_ASSIGN_CHECKS.register("compliance.suitability", check_model_assignment)
        register_read_cache_scopes()
