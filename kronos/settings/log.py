"""Logging: JSON lines with the request id (django-guid), carried into the tasks a request queues."""

from django_guid.integrations import CeleryIntegration

from kronos.settings.environment import env

# --- Logging ---------------------------------------------------------------------------------
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "RETURN_HEADER": True,
    "VALIDATE_GUID": False,
    # A request's id travels with the tasks it queues; each task also gets its own celery_id.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation_id": {"()": "django_guid.log_filters.CorrelationId"},
        "celery_tracing": {"()": "django_guid.integrations.celery.log_filters.CeleryTracing"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(celery_current_id)s %(celery_parent_id)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "correlation_id": "request_id",
                "celery_current_id": "task_trace_id",
                "celery_parent_id": "parent_task_trace_id",
            },
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["correlation_id", "celery_tracing"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
        "kailash": {"level": "WARNING"},  # the workflow SDK logs every node run at INFO
        "weasyprint": {"level": "WARNING"},  # the PDF renderer logs each of its steps at INFO
        "fontTools": {"level": "WARNING"},  # the font subsetter WeasyPrint uses, likewise
    },
}
