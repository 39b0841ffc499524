from django.urls import path

from accounts.api import events as events_api

urlpatterns = [
    path("events/", events_api.event_list, name="api-event-list"),
    path("webhook-subscriptions/", events_api.subscription_list, name="api-webhook-subscription-list"),
    path("webhook-subscriptions/<int:pk>/", events_api.subscription_detail, name="api-webhook-subscription-detail"),
]
