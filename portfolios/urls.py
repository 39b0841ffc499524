"""Pages of the portfolios app (mounted at the site root by kronos/urls.py)."""

from django.urls import path

from portfolios import views

app_name = "portfolios"

urlpatterns = [
    path("book/", views.book, name="book"),
    path("my/accounts/", views.my_accounts, name="my_accounts"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("households/<int:pk>/accounts/", views.household_accounts, name="household_accounts"),
    path("accounts/<int:pk>/gains/", views.account_gains, name="account_gains"),
    path("households/<int:pk>/gains/", views.household_gains, name="household_gains"),
    path("accounts/<int:pk>/settings/", views.account_settings, name="account_settings"),
    path("accounts/<int:pk>/transfers-in/new/", views.transfer_in, name="transfer_in"),
    path("models/", views.model_list, name="model_list"),
    path("models/new/", views.model_create, name="model_create"),
    path("models/<int:pk>/edit/", views.model_edit, name="model_edit"),
]
