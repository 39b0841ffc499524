from django.urls import path

from accounts import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="api-me"),
    path("households/", api.HouseholdListView.as_view(), name="api-household-list"),
    path("households/<int:pk>/", api.HouseholdDetailView.as_view(), name="api-household-detail"),
]
