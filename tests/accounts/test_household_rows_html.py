"""The households table's rows, written by `household_rows_html`, are the HTML the template's
loop wrote (rendered here from the same markup), for hostile values too."""

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils.safestring import SafeString

from accounts.selectors.households import HouseholdRow, MemberRow
from accounts.views import household_rows_html

_TEMPLATE_LOOP = Template(
    "{% for h in households %}"
    '<tr><td><a href="{{ household_url }}{{ h.pk }}/">{{ h.name }}</a></td>'
    "<td>{% for m in h.members %}{{ m.full_name }}{% if not forloop.last %}, {% endif %}{% endfor %}</td>"
    "<td>{{ h.advisor_name }}</td>"
    '<td><span class="badge badge-{{ h.status }}">{{ h.status_label }}</span></td></tr>\n'
    "{% endfor %}"
)

HOSTILE = ['<script>alert("x")</script>', "O'Brien & Sons", '"quoted" > <b>', "{0} {braces} %s", "Plain"]


def test_the_rows_are_the_templates_rows_escaped_alike():
    now = datetime(2026, 12, 7, tzinfo=UTC)
    rows = [
        HouseholdRow(
            pk=i + 1,
            name=text,
            status="active" if i % 2 else "prospect",
            advisor_id=1,
            advisor_full_name=text if i % 3 else "",
            advisor_email=f"a{i}@example.com",
            created_at=now,
            updated_at=now,
            members=tuple(
                MemberRow(investor_id=j, first_name=text, last_name=HOSTILE[j], relationship="primary")
                for j in range(i % 3)
            ),
        )
        for i, text in enumerate(HOSTILE)
    ]
    url = "/households/"
    written = household_rows_html(rows, url)
    assert written == _TEMPLATE_LOOP.render(Context({"households": rows, "household_url": url}))
    assert isinstance(written, SafeString)
    assert "<script>" not in written and "&lt;script&gt;" in written and "O&#x27;Brien &amp; Sons" in written
    assert household_rows_html([], url) == ""
