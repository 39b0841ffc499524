from django.urls import path

from onboarding import views

app_name = "onboarding"

urlpatterns = [
    path("households/new/", views.household_new, name="household_new"),
    path("households/<int:pk>/onboarding/", views.household_onboarding, name="household"),
    path("households/<int:pk>/onboarding/section/", views.household_section, name="household_section"),
    path("households/<int:pk>/onboarding/submit/", views.household_submit, name="household_submit"),
    path("households/<int:pk>/investors/new/", views.investor_new, name="investor_new"),
    path("households/<int:pk>/accounts/new/", views.account_new, name="account_new"),
    path("households/<int:pk>/agreements/<str:kind>/sign/", views.agreement_sign, name="sign"),
    path("investors/<int:pk>/", views.investor_detail, name="investor"),
    path("accounts/invitation/<uidb64>/<token>/", views.invitation_accept, name="invitation"),
    path("onboarding/", views.my_onboarding, name="mine"),
    path("documents/<int:pk>/", views.document_download, name="document"),
]
