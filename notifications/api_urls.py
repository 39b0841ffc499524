from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications/", api.notification_list, name="api-notification-list"),
    path("notifications/<int:pk>/read/", api.notification_read, name="api-notification-read"),
]
