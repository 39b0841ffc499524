from django.urls import path

from operations import views

app_name = "operations"

urlpatterns = [
    path("ops/", views.dashboard, name="dashboard"),
    path("ops/jobs/", views.job_list, name="job_list"),
    path("ops/jobs/nightly/run/", views.nightly_run_now, name="nightly_run_now"),
    path("ops/jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("ops/breaks/", views.break_list, name="break_list"),
    path("ops/breaks/<int:pk>/resolve/", views.break_resolve, name="break_resolve"),
    path("ops/billing/", views.billing_list, name="billing_list"),
    path("ops/billing/<int:pk>/", views.billing_detail, name="billing_detail"),
    path("ops/billing/<int:pk>/approve/", views.billing_approve, name="billing_approve"),
    path("ops/billing/<int:pk>/file.csv", views.billing_file, name="billing_file"),
    path(
        "ops/billing/<int:pk>/households/<int:household_pk>/invoice.pdf",
        views.billing_invoice,
        name="billing_invoice",
    ),
]
