"""The signed copy of an agreement as a PDF (WeasyPrint), from a Django template."""

from typing import Any

from django.template.loader import render_to_string


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # imported here: loading Pango costs ~100 ms at start-up

    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=None).write_pdf()  # type: ignore[no-any-return]
