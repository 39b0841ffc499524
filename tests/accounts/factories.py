import factory
from django.contrib.auth.models import Group

from accounts.models import Advisor, Firm, Household, HouseholdMember, Investor, Role, User

PASSWORD = "correct horse battery staple"  # noqa: S105


class FirmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Firm
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Firm {n}")
    slug = factory.Sequence(lambda n: f"firm-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class AdvisorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advisor

    firm = factory.SubFactory(FirmFactory)
    user = factory.SubFactory(UserFactory, firm=factory.SelfAttribute("..firm"), roles=[Role.ADVISOR])


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    advisor = factory.SubFactory(AdvisorFactory)
    firm = factory.SelfAttribute("advisor.firm")
    name = factory.Sequence(lambda n: f"Household {n}")


class InvestorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Investor
        skip_postgeneration_save = True

    firm = factory.SubFactory(FirmFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    country = "US"

    @factory.post_generation
    def households(self, create, extracted, **kwargs):
        for household in extracted or []:
            HouseholdMember.objects.create(household=household, investor=self)
