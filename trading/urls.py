"""Pages of the trading app (mounted at the site root by kronos/urls.py)."""

from django.urls import path

from trading import views

app_name = "trading"
urlpatterns = [
    path("accounts/<int:pk>/trading/", views.account_trading, name="account_trading"),
    path("accounts/<int:pk>/orders/new/", views.order_create, name="order_create"),
    path("accounts/<int:pk>/transfers/new/", views.transfer_create, name="transfer_create"),
    path("accounts/<int:pk>/rebalance/", views.proposal_create, name="proposal_create"),
    path("rebalance/", views.proposals_create_bulk, name="proposals_create_bulk"),
    path("proposals/", views.proposals_open, name="proposals_open"),
    path("proposals/approve/", views.proposals_approve_bulk, name="proposals_approve_bulk"),
    path("blotter/", views.blotter, name="blotter"),
    path("households/<int:pk>/tax/", views.household_tax, name="household_tax"),
    path("households/<int:pk>/groups/new/", views.group_create, name="group_create"),
    path("households/<int:pk>/groups/propose/", views.group_propose, name="group_propose"),
    path("households/<int:pk>/harvest/", views.harvest_create, name="harvest_create"),
    path("models/<int:pk>/rebalance/", views.model_rebalance, name="model_rebalance"),
    path("proposals/<int:pk>/", views.proposal_detail, name="proposal_detail"),
    path("proposals/<int:pk>/approve/", views.proposal_decide, {"decision": "approve"}, name="proposal_approve"),
    path("proposals/<int:pk>/discard/", views.proposal_decide, {"decision": "discard"}, name="proposal_discard"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order_cancel"),
    path("operations/", views.operations, name="operations"),
    path("webhooks/custodian/", views.custodian_webhook, name="custodian_webhook"),
]
