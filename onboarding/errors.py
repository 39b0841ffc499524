from kronos.errors import DomainError


class OnboardingError(DomainError):
    """Bad input or an illegal step in onboarding, agreements and documents."""
