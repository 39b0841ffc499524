"""The portal's number filters, a template built-in (settings.TEMPLATES ... "builtins"): every
template can write ``{{ amount|money:currency }}``, ``{{ price|price }}``, ``{{ weight|percent }}``,
``{{ drift|signed_percent }}``, ``{{ shares|quantity }}`` and ``{{ bps|number }}`` without a
``{% load %}``. The rules are in `kronos.formatting`."""

from __future__ import annotations

from typing import Any

from django import template

from kronos import formatting

register = template.Library()


@register.filter
def money(value: Any, currency: str = "USD") -> str:
    return formatting.money(value, currency or "USD")


@register.filter
def signed_money(value: Any, currency: str = "USD") -> str:
    return formatting.money(value, currency or "USD", signed=True)


@register.filter
def price(value: Any, currency: str = "USD") -> str:
    return formatting.price(value, currency or "USD")


@register.filter
def percent(value: Any) -> str:
    return formatting.percent(value)


@register.filter
def signed_percent(value: Any) -> str:
    return formatting.percent(value, signed=True)


@register.filter
def quantity(value: Any) -> str:
    return formatting.quantity(value)


@register.filter
def number(value: Any, places: int = 2) -> str:
    return formatting.number(value, int(places))
