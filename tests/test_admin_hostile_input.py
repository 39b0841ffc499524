"""The admin takes what anyone signed in to it can send -- page numbers and ids past any
database column, NUL bytes, malformed dates and orderings, unknown lookups -- on every model's
list, change, history and delete pages, and answers a page, a redirect or a 4xx: never a 5xx
(the house rule covers the admin as every other URL)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission

from tests.admin_firms import admin_url, staff_client, two_firms
from tests.roles import restore_role_permissions

pytestmark = pytest.mark.django_db

BIG = str(2**70)  # past PostgreSQL's bigint

LIST_QUERIES = [
    {"p": BIG},
    {"p": "-1"},
    {"all": "", "p": BIG},
    {"o": "\x00"},
    {"o": "999.-5"},
    {"q": "\x00"},
    {"q": "a" * 5000},
    {"id__exact": BIG},
    {"pk": BIG},
    {"e": "1"},
    {"_to_field": "password"},
    {"created_at__gte": "9999-99-99"},
    {"date__gte": "0000-00-00"},
    {"status__exact": "\x00"},
]
OBJECT_SUFFIXES = [
    f"{BIG}/change/",
    "abc/change/",
    "%00/change/",
    f"{BIG}/history/",
    f"1/history/{BIG}/",
    f"{BIG}/delete/",
]
SITE_URLS = [
    "/admin/?x=\x00",
    f"/admin/autocomplete/?app_label=accounts&model_name=household&field_name=advisor&term=%00&page={BIG}",
    "/admin/autocomplete/?app_label=%00",
    f"/admin/r/{BIG}/{BIG}/",
    "/admin/login/?next=%00",
]


@pytest.mark.parametrize("superuser", [False, True], ids=["operations with every permission", "superuser"])
def test_no_input_makes_an_admin_page_fail(superuser):
    restore_role_permissions()
    mine, _theirs = two_firms()
    user = mine["operations"]
    user.user_permissions.set(Permission.objects.all())
    user.is_superuser = superuser
    user.save()
    client = staff_client(user)
    problems = []
    for model in admin.site._registry:
        for query in LIST_QUERIES:
            status = client.get(admin_url(model), query).status_code
            if status >= 500:
                problems.append(f"GET {admin_url(model)} {sorted(query)}: {status}")
        for suffix in OBJECT_SUFFIXES:
            status = client.get(admin_url(model, suffix)).status_code
            if status >= 500:
                problems.append(f"GET {admin_url(model, suffix)}: {status}")
    for url in SITE_URLS:
        status = client.get(url).status_code
        if status >= 500:
            problems.append(f"GET {url}: {status}")
    assert len(admin.site._registry) > 20
    assert not problems, "\n".join(problems)
