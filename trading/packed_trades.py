"""A proposal's trades packed into one text column (`RebalanceProposal.packed_trades`), as the
nightly scan stores them.

A trade is `security id,symbol,side,quantity,price,estimated amount,realised gain;` -- side `b` or
`s`, each number the column's value (quantized to its field's places, as the database would keep
it) written without trailing zeros -- in the proposal's order (sells first): the trade's
`position` is its place. Unpacked, a trade is the ProposalTrade its row would be, unsaved (no
id), each number at its field's places (what reading the row gives). A symbol with a comma or a
semicolon cannot be packed (`packable`; its proposal keeps rows). About 30 bytes a trade, against
about 140 for a row with its indexes. It imports nothing of trading (the models import it): the
trade class is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, Value
from django.db.models.functions import Length, Replace

if TYPE_CHECKING:
    from django.db.models import Expression, Model

END = ";"
_SIDE_CODE = {"buy": "b", "sell": "s"}  # trading.models.Side's values
_SIDE_OF = {"b": "buy", "s": "sell"}
#: (field name, places) of the numbers, in the packed order after the side.
NUMBERS = ("quantity", "price", "estimated_amount", "realised_gain")


_UNITS: dict[type, dict[str, Decimal]] = {}


def units(trade_class: type[Model]) -> dict[str, Decimal]:
    """The quantum of each number: one unit of its field's last place."""
    if trade_class not in _UNITS:
        _UNITS[trade_class] = {
            name: Decimal(1).scaleb(-trade_class._meta.get_field(name).decimal_places)  # type: ignore[union-attr]
            for name in NUMBERS
        }
    return _UNITS[trade_class]


def _text(value: Decimal, unit: Decimal) -> str:
    kept = value.quantize(unit)
    text = format(kept, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def packable(symbol: str) -> bool:
    return "," not in symbol and END not in symbol


def pack(rows: Iterable[Sequence[Any]], trade_class: type[Model]) -> str:
    """`rows` -- (security id, symbol, side, quantity, price, estimated amount, realised gain), in
    order -- as the packed text, each number at its place in `trade_class` (ProposalTrade)."""
    unit = units(trade_class)
    q, p, a, g = (unit[name] for name in NUMBERS)
    out = []
    for security_id, symbol, side, quantity, price, amount, gain in rows:
        if not packable(symbol):
            raise ValueError(f"A symbol cannot be packed: {symbol!r}")
        out.append(
            f"{int(security_id)},{symbol},{_SIDE_CODE[side]},{_text(quantity, q)},{_text(price, p)},"
            f"{_text(amount, a)},{_text(gain, g)}{END}"
        )
    return "".join(out)


def unpack(proposal: Any, trade_class: type[Model]) -> list[Any]:
    """The proposal's packed trades as unsaved `trade_class` (ProposalTrade) instances, in order."""
    unit = units(trade_class)
    q, p, a, g = (unit[name] for name in NUMBERS)
    trades = []
    for position, item in enumerate(proposal.packed_trades.split(END)[:-1]):
        security_id, symbol, side, quantity, price, amount, gain = item.split(",")
        trades.append(
            trade_class(
                proposal=proposal,
                security_id=int(security_id),
                symbol=symbol,
                side=_SIDE_OF[side],
                quantity=Decimal(quantity).quantize(q),
                price=Decimal(price).quantize(p),
                estimated_amount=Decimal(amount).quantize(a),
                realised_gain=Decimal(gain).quantize(g),
                position=position,
            )
        )
    return trades


def packed_count() -> Expression:
    """SQL: the number of trades packed in a proposal's row (its terminators), 0 for none."""
    return Length(F("packed_trades")) - Length(Replace(F("packed_trades"), Value(END), Value("")))
