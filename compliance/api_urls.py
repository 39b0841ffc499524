"""API routes of the compliance app, mounted under /api/v1/ by kronos/urls.py."""

from django.urls import path

from compliance import api

urlpatterns = [
    path("households/<int:pk>/kyc/", api.household_kyc, name="api-household-kyc"),
    path("investors/<int:pk>/kyc/", api.investor_kyc_start, name="api-investor-kyc"),
    path("investors/<int:pk>/risk-profile/", api.investor_risk_profile, name="api-investor-risk-profile"),
    path("orders/<int:pk>/checks/", api.order_checks, name="api-order-checks"),
    path("audit/", api.audit_list, name="api-audit"),
]
