"""API routes of reports, mounted under /api/v1/ by kronos/urls.py."""

from django.urls import path

from reports import api

urlpatterns = [
    path("accounts/<int:pk>/statements/", api.account_statements, name="api-account-statements"),
    path(
        "accounts/<int:pk>/statements/<int:statement_id>/",
        api.account_statement_detail,
        name="api-account-statement-detail",
    ),
    path(
        "accounts/<int:pk>/statements/<int:statement_id>/pdf/",
        api.account_statement_pdf,
        name="api-account-statement-pdf",
    ),
]
