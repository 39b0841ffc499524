"""Pure code of compliance: no ORM, no Django (the risk questionnaire's scoring, the watch-list name matcher)."""
