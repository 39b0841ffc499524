"""Pages of reports (mounted at the site root by kronos/urls.py)."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/<int:pk>/", views.statement_detail, name="statement_detail"),
    path("statements/<int:pk>/pdf/", views.statement_pdf, name="statement_pdf"),
    path("statements/<int:pk>/retry/", views.statement_retry, name="statement_retry"),
    path("statements/batches/", views.batch_list, name="batch_list"),
    path("statements/batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("accounts/<int:pk>/statements/", views.account_statements, name="account_statements"),
]

# Exports: one URL per file and format, so each is a plain link.
for fmt in ("csv", "xlsx"):
    urlpatterns += [
        path(f"exports/book.{fmt}", views.export_book, {"fmt": fmt}, name=f"export_book_{fmt}"),
        path(f"exports/blotter.{fmt}", views.export_blotter, {"fmt": fmt}, name=f"export_blotter_{fmt}"),
        path(
            f"households/<int:pk>/exports/holdings.{fmt}",
            views.export_holdings,
            {"fmt": fmt},
            name=f"export_holdings_{fmt}",
        ),
        path(
            f"accounts/<int:pk>/exports/transactions.{fmt}",
            views.export_transactions,
            {"fmt": fmt},
            name=f"export_transactions_{fmt}",
        ),
        path(
            f"accounts/<int:pk>/exports/performance.{fmt}",
            views.export_performance,
            {"fmt": fmt},
            name=f"export_performance_{fmt}",
        ),
        path(
            f"ops/billing/<int:pk>/export.{fmt}",
            views.export_billing,
            {"fmt": fmt},
            name=f"export_billing_{fmt}",
        ),
    ]
