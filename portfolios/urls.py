"""Pages of the portfolios app (mounted at the site root by kronos/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "portfolios"
urlpatterns: list = []
