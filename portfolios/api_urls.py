"""API routes of the portfolios app, mounted under /api/v1/ by kronos/urls.py."""

from django.urls import path

from portfolios import api

urlpatterns = [
    path("securities/", api.securities, name="api-securities"),
    path("prices/", api.prices, name="api-prices"),
    path("models/", api.models, name="api-models"),
    path("models/<int:pk>/", api.model_detail, name="api-model-detail"),
    path("accounts/", api.accounts, name="api-accounts"),
    path("accounts/<int:pk>/", api.account_detail, name="api-account-detail"),
    path("accounts/<int:pk>/positions/", api.positions, name="api-account-positions"),
    path("accounts/<int:pk>/transfers-in/", api.transfers_in, name="api-account-transfers-in"),
    path("accounts/<int:pk>/drift/", api.drift, name="api-account-drift"),
    path("accounts/<int:pk>/performance/", api.account_performance, name="api-account-performance"),
    path("accounts/<int:pk>/lots/", api.lots, name="api-account-lots"),
    path("accounts/<int:pk>/realized-gains/", api.realized_gains, name="api-account-realized-gains"),
    path("households/<int:pk>/performance/", api.household_performance, name="api-household-performance"),
]
