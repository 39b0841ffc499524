"""API routes of the trading app, mounted under /api/v1/ by kronos/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
