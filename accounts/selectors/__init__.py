"""Reads of the accounts app, one module per subject, always scoped to the user asking.

The role rules other apps read through here (`household_scope_q`, `household_may_edit`, ...)
live in `accounts.permissions` and are re-exported, so `accounts.selectors` stays the one
import for other apps."""

from accounts.permissions import (
    event_scope_q,
    household_may_edit,
    household_scope_q,
    investor_may_edit,
    may_see_tax_id,
)
from accounts.selectors.events import event_as_dict, event_list_for_user, latest_position
from accounts.selectors.households import (
    household_get_for_user,
    household_list_for_user,
    household_search_q,
    investor_get_for_user,
    investor_list_for_user,
)

__all__ = [
    "event_as_dict",
    "event_list_for_user",
    "event_scope_q",
    "household_get_for_user",
    "household_list_for_user",
    "household_may_edit",
    "household_scope_q",
    "household_search_q",
    "investor_get_for_user",
    "investor_list_for_user",
    "investor_may_edit",
    "latest_position",
    "may_see_tax_id",
]
