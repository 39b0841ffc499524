from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        # The stages register the jobs; the tasks register the Celery tasks the job engine sends
        # by name (jobs.enqueue_job_task), in every process, not only in a worker that autodiscovers.
        from operations import stages, tasks  # noqa: F401
