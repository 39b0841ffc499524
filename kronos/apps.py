"""The project package as an app: the shared pieces' signals, checks and metrics, in every process
(web, worker and beat). It has no models of its own."""

from django.apps import AppConfig
from django.core import checks


class KronosConfig(AppConfig):
    name = "kronos"
    label = "kronos_ops"  # the label its first release used; kept so nothing that names it moves
    verbose_name = "Kronos shared pieces"

    def ready(self) -> None:
        # Imported here: these modules define or use models, which need the app registry ready.
        from django.contrib.auth.signals import user_logged_in

        from kronos import checks_registry, history, idempotency, metrics, readcache, security

        history.cache_history_managers()

        readcache.scopes.install()  # every history row touches its firm's read-cache scope
        user_logged_in.connect(security.stamp_activity_on_login, dispatch_uid="kronos.security.stamp_activity")

        checks.register(idempotency.check_store)
        checks.register(security.check_secret_key, checks.Tags.security)
        checks.register(security.check_secret_key_deploy, checks.Tags.security, deploy=True)
        checks.register(security.check_metrics_protected, checks.Tags.security, deploy=True)
        checks.register(checks_registry.check_required_filled)
        metrics.connect_task_signals()
