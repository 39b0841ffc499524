from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and households"

    def ready(self) -> None:
        # Models and the shared pieces that use them load only once the registry is ready.
        from accounts.models import IdempotencyKey
        from kronos import idempotency

        idempotency.use_store(IdempotencyKey)
