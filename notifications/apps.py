from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # The fan-out subscribes to its event kinds in the outbox's slot (accounts.subscribers),
        # in every process (the web's commits publish too), and the tasks register by name.
        from notifications import tasks  # noqa: F401
        from notifications.services import subscribers_register

        subscribers_register()
