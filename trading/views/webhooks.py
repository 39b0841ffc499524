"""The custodian's webhook endpoint."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kronos.inputs import JSONInputError, loads_json
from trading import services
from trading.adapters.custodian import signing
from trading.errors import TradingError

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def custodian_webhook(request: HttpRequest) -> HttpResponse:
    """The custodian's signed events. 401 for a bad or missing signature, 400 for a stale or
    future timestamp or an event we cannot read (the custodian retries non-2xx), 422 for a fill
    refused and recorded as an anomaly (beyond its order, or for an ended order), 200
    otherwise, including for a duplicate (it changes nothing)."""
    body = request.body
    try:
        signing.verify(
            settings.CUSTODIAN_WEBHOOK_SECRET,
            request.headers.get(signing.SIGNATURE_HEADER),
            body,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
    except signing.SignatureError as exc:
        return JsonResponse({"detail": str(exc)}, status=400 if exc.stale else 401)
    try:
        event = loads_json(body)
    except JSONInputError as exc:
        return JsonResponse({"detail": f"The body is refused: {exc}."}, status=400)
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    if not isinstance(event, dict):
        return JsonResponse({"detail": "The body is not a JSON object."}, status=400)
    try:
        result = services.webhook_event_apply(event=event)
    except TradingError as exc:
        logger.warning("custodian webhook refused", extra={"error": exc.message})
        return JsonResponse({"detail": exc.message}, status=400)
    if result.startswith("refused"):
        # Understood but not booked (beyond the order, or the order had ended): a FillAnomaly
        # for operations; the event is recorded, so a redelivery is a duplicate.
        return JsonResponse({"result": "refused", "detail": result}, status=422)
    return JsonResponse({"result": result})
