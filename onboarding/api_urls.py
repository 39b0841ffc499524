from django.urls import path

from onboarding import api

urlpatterns = [
    path("households/<int:pk>/onboarding/", api.household_onboarding, name="api-household-onboarding"),
    path(
        "households/<int:pk>/onboarding/submit/",
        api.household_onboarding_submit,
        name="api-household-onboarding-submit",
    ),
    path("households/<int:pk>/documents/", api.household_documents, name="api-household-documents"),
    path("documents/<int:pk>/", api.document_download, name="api-document-download"),
]
