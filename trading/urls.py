"""Pages of the trading app (mounted at the site root by kronos/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "trading"
urlpatterns: list = []
