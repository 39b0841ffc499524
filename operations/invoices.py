"""A household's fee invoice as a PDF (WeasyPrint), from `templates/operations/invoice.html`."""

from __future__ import annotations

from django.template.loader import render_to_string

from operations.selectors import Invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: the same figures as the billing page, from the same selector."""
    from weasyprint import HTML  # imported here: loading Pango costs ~100 ms at start-up

    html = render_to_string("operations/invoice.html", {"invoice": invoice, "firm": invoice.run.firm})
    return HTML(string=html, base_url=None).write_pdf()  # type: ignore[no-any-return]
