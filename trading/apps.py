from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"

    def ready(self) -> None:
        # A split's open orders are trading's: portfolios calls this inside the split's transaction.
        from portfolios.services import register_reinvestment_handler, register_split_handler
        from trading.services.corporate_actions import dividends_reinvest, orders_adjust_for_split

        register_split_handler(orders_adjust_for_split)
        register_reinvestment_handler(dividends_reinvest)
