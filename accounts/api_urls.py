from django.urls import path

from accounts import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="api-me"),
    path("households/", api.HouseholdListView.as_view(), name="api-household-list"),
    path("households/<int:pk>/", api.HouseholdDetailView.as_view(), name="api-household-detail"),
    path("households/<int:pk>/investors/", api.household_investors, name="api-household-investors"),
    path("investors/<int:pk>/", api.investor_detail, name="api-investor-detail"),
]
