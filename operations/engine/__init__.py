"""Pure code of operations: no ORM, no Django (the trading calendar, the fee arithmetic)."""
