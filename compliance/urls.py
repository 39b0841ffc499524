"""Pages of the compliance app (mounted at the site root by kronos/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "compliance"
urlpatterns: list = []
