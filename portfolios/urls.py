"""Pages of the portfolios app (mounted at the site root by kronos/urls.py)."""

from django.urls import path

from portfolios import views

app_name = "portfolios"

urlpatterns = [
    path("book/", views.book, name="book"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("households/<int:pk>/accounts/", views.household_accounts, name="household_accounts"),
]
