"""Pages of the compliance app (mounted at the site root by kronos/urls.py)."""

from django.urls import path

from compliance import views

app_name = "compliance"
urlpatterns = [
    path("compliance/", views.dashboard, name="dashboard"),
    path("compliance/kyc/", views.kyc_queue, name="kyc_queue"),
    path("compliance/kyc/<int:pk>/decide/", views.kyc_decide, name="kyc_decide"),
    path("compliance/aml/", views.aml_queue, name="aml_queue"),
    path("compliance/aml/<int:pk>/", views.aml_case, name="aml_case"),
    path("compliance/suitability/", views.suitability_queue, name="suitability_queue"),
    path("compliance/suitability/<int:pk>/resolve/", views.suitability_resolve, name="suitability_resolve"),
    path("compliance/orders/", views.order_queue, name="order_queue"),
    path("compliance/orders/<int:pk>/decide/", views.order_decide, name="order_decide"),
    path("compliance/audit/", views.audit_explorer, name="audit"),
    path("compliance/audit.csv", views.audit_csv, name="audit_csv"),
    path("households/<int:pk>/compliance/", views.household_section, name="household_section"),
    path("investors/<int:pk>/kyc/start/", views.kyc_start, name="kyc_start"),
    path("investors/<int:pk>/risk-profile/", views.risk_questionnaire, name="risk_questionnaire"),
    path("webhooks/kyc/", views.kyc_webhook, name="kyc_webhook"),
]
