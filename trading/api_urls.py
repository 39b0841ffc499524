"""API routes of the trading app, mounted under /api/v1/ by kronos/urls.py."""

from django.urls import path

from trading import api

urlpatterns = [
    path("accounts/<int:pk>/rebalance-proposals/", api.proposal_create, name="api-proposal-create"),
    path("rebalance-proposals/<int:pk>/", api.proposal_detail, name="api-proposal-detail"),
    path("rebalance-proposals/<int:pk>/approve/", api.proposal_approve, name="api-proposal-approve"),
    path(
        "households/<int:pk>/rebalance-proposals/",
        api.household_rebalance_create,
        name="api-household-rebalance-create",
    ),
    path(
        "households/<int:pk>/harvest-proposals/",
        api.household_harvest_create,
        name="api-household-harvest-create",
    ),
    path("orders/", api.order_list, name="api-order-list"),
    path("orders/<int:pk>/", api.order_detail, name="api-order-detail"),
    path("orders/<int:pk>/cancel/", api.order_cancel, name="api-order-cancel"),
    path("accounts/<int:pk>/deposits/", api.deposit_create, name="api-deposit-create"),
    path("accounts/<int:pk>/withdrawals/", api.withdrawal_create, name="api-withdrawal-create"),
    path("accounts/<int:pk>/transactions/", api.account_transactions, name="api-account-transactions"),
]
