"""The accounts API, one module per resource: households (and `me/`), investors, events and
webhook subscriptions. The views the URLconfs route to are re-exported here."""

from accounts.api.events import event_list, subscription_detail, subscription_list
from accounts.api.households import HouseholdDetailView, HouseholdListView, MeView
from accounts.api.investors import household_investors, investor_detail
from accounts.permissions import household_creator_advisor

__all__ = [
    "HouseholdDetailView",
    "HouseholdListView",
    "MeView",
    "event_list",
    "household_creator_advisor",
    "household_investors",
    "investor_detail",
    "subscription_detail",
    "subscription_list",
]
