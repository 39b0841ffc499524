from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"

    def ready(self) -> None:
        # Imported here, not at the top: the services import models, which need the app registry.
        # A split's open orders and open proposals are trading's: portfolios calls this inside the split's transaction.
        from portfolios.checks import ACCOUNT_SETTINGS_CHANGED_HOOKS
        from portfolios.services import register_reinvestment_handler, register_split_handler
        from trading.services.account_opening import custodian_settings_queue
        from trading.services.corporate_actions import (
            dividends_reinvest,
            orders_adjust_for_split,
            proposals_adjust_for_split,
        )

        ACCOUNT_SETTINGS_CHANGED_HOOKS.register("trading.custodian_account_settings", custodian_settings_queue)
        register_split_handler(orders_adjust_for_split)
        register_split_handler(proposals_adjust_for_split)
        register_reinvestment_handler(dividends_reinvest)
        # The services name their Celery tasks (`kronos.relay.enqueue_after_commit("trading.relay_outbox")`)
        # and never import them: the tasks are registered here, in every process, web included.
        import trading.tasks  # noqa: F401
