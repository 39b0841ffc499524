"""A proposal's trades packed into one text column (`RebalanceProposal.packed_trades`), as the
nightly scan stores them.

A trade is `security id,symbol,side,quantity,price,estimated amount,realised gain;` -- side `b` or
`s`, each number the column's value (quantized to its field's places, as the database would keep
it) written without trailing zeros -- in the proposal's order (sells first): the trade's
`position` is its place. Unpacked, a trade is the ProposalTrade its row would be, unsaved (no
id), each number at its field's places (what reading the row gives). A symbol with a comma or a
semicolon cannot be packed (`packable`; its proposal keeps rows). About 30 bytes a trade, against
about 140 for a row with its indexes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, Value
from django.db.models.functions import Length, Replace

from trading.models.common import Side

if TYPE_CHECKING:
    from django.db.models import Expression

    from trading.models import ProposalTrade, RebalanceProposal

END = ";"
_SIDE_CODE = {Side.BUY: "b", Side.SELL: "s"}
_SIDE_OF = {"b": Side.BUY, "s": Side.SELL}
#: (field name, places) of the numbers, in the packed order after the side.
NUMBERS = ("quantity", "price", "estimated_amount", "realised_gain")


def _units() -> dict[str, Decimal]:
    from trading.models import ProposalTrade

    return {
        name: Decimal(1).scaleb(-ProposalTrade._meta.get_field(name).decimal_places)  # type: ignore[union-attr]
        for name in NUMBERS
    }


_UNITS: dict[str, Decimal] = {}


def units() -> dict[str, Decimal]:
    if not _UNITS:
        _UNITS.update(_units())
    return _UNITS


def _text(value: Decimal, unit: Decimal) -> str:
    kept = value.quantize(unit)
    text = format(kept, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def packable(symbol: str) -> bool:
    return "," not in symbol and END not in symbol


def pack(rows: Iterable[Sequence[Any]]) -> str:
    """`rows` -- (security id, symbol, side, quantity, price, estimated amount, realised gain), in
    order -- as the packed text."""
    unit = units()
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


def unpack(proposal: RebalanceProposal) -> list[ProposalTrade]:
    """The proposal's packed trades as unsaved ProposalTrade instances, in order."""
    from trading.models import ProposalTrade

    unit = units()
    q, p, a, g = (unit[name] for name in NUMBERS)
    trades = []
    for position, item in enumerate(proposal.packed_trades.split(END)[:-1]):
        security_id, symbol, side, quantity, price, amount, gain = item.split(",")
        trades.append(
            ProposalTrade(
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


def materialize_for_security(security_id: int) -> int:
    """Unpack into rows the trades of the open proposals (needing trades) that pack a trade in
    `security_id`, the proposals locked: a split adjusts those trades as rows, each with its
    history from its first change (`trading.services.corporate_actions`). The rows are the
    trades as proposed; the proposal's history is untouched (what it proposes is the same).
    Returns the proposals unpacked."""
    from django.db.models import Q

    from trading.models import ProposalTrade, RebalanceProposal

    proposals = list(
        RebalanceProposal.objects.select_for_update()
        .filter(status=RebalanceProposal.Status.PROPOSED, needed=True)
        .filter(Q(packed_trades__startswith=f"{security_id},") | Q(packed_trades__contains=f"{END}{security_id},"))
        .only("pk", "packed_trades")
        .order_by("pk")
    )
    if proposals:
        ProposalTrade.objects.bulk_create([t for p in proposals for t in unpack(p)])
        RebalanceProposal.objects.filter(pk__in=[p.pk for p in proposals]).update(packed_trades="")
    return len(proposals)


def packed_count() -> Expression:
    """SQL: the number of trades packed in a proposal's row (its terminators), 0 for none."""
    return Length(F("packed_trades")) - Length(Replace(F("packed_trades"), Value(END), Value("")))
