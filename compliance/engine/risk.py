"""The risk questionnaire and its scoring: pure, no ORM.

Five questions (time horizon, objective, loss tolerance, income, liquidity needs), each
answer worth 0-4 points; the total (0-20) maps linearly onto a risk level 1-10, rounded
half-even at this one place. Liquidity needs and a short horizon cap the level, because
someone who needs the money soon cannot ride out a deep fall whatever their appetite.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    choices: tuple[tuple[str, str, int], ...]  # (value, label, points)

    def points(self, value: str) -> int:
        for choice, _, points in self.choices:
            if choice == value:
                return points
        raise KeyError(value)


QUESTIONS: tuple[Question, ...] = (
    Question(
        "time_horizon",
        "When will you need most of this money?",
        (
            ("lt3", "Within 3 years", 0),
            ("3to5", "In 3 to 5 years", 1),
            ("5to10", "In 5 to 10 years", 2),
            ("10to20", "In 10 to 20 years", 3),
            ("gt20", "In more than 20 years", 4),
        ),
    ),
    Question(
        "objective",
        "What is your main goal for this money?",
        (
            ("preserve", "Keep what I have", 0),
            ("income", "Steady income", 1),
            ("balanced", "Balance of income and growth", 2),
            ("growth", "Growth", 3),
            ("aggressive", "Maximum growth", 4),
        ),
    ),
    Question(
        "loss_tolerance",
        "Your portfolio falls 25% in a year. What do you do?",
        (
            ("sell_all", "Sell everything", 0),
            ("sell_some", "Sell some", 1),
            ("hold", "Hold and wait", 2),
            ("buy_some", "Buy a little more", 3),
            ("buy_more", "Buy a lot more", 4),
        ),
    ),
    Question(
        "income",
        "How secure is your income?",
        (
            ("none", "No regular income", 0),
            ("unstable", "Irregular", 1),
            ("stable", "Stable", 2),
            ("growing", "Stable and growing", 3),
            ("independent", "I don't depend on income", 4),
        ),
    ),
    Question(
        "liquidity",
        "How much of this money might you need at short notice?",
        (
            ("most", "Most of it", 0),
            ("half", "About half", 1),
            ("some", "Some", 2),
            ("little", "A little", 3),
            ("none", "None", 4),
        ),
    ),
)

QUESTION_KEYS = tuple(q.key for q in QUESTIONS)
MAX_POINTS = sum(max(p for _, _, p in q.choices) for q in QUESTIONS)


@dataclass(frozen=True)
class Scored:
    score: int
    risk_level: int


def score(answers: dict[str, str]) -> Scored:
    """Points and risk level of a complete set of answers; KeyError names a missing or bad answer."""
    points = {q.key: q.points(answers[q.key]) for q in QUESTIONS}
    total = sum(points.values())
    level = int((Decimal(1) + Decimal(9) * Decimal(total) / Decimal(MAX_POINTS)).quantize(Decimal(1), ROUND_HALF_EVEN))
    if answers["liquidity"] == "most" or answers["time_horizon"] == "lt3":
        level = min(level, 3)
    return Scored(score=total, risk_level=max(1, min(10, level)))


def errors(answers: dict[str, object]) -> dict[str, list[str]]:
    """Field errors of a set of answers (empty when complete and valid)."""
    found: dict[str, list[str]] = {}
    for q in QUESTIONS:
        value = answers.get(q.key)
        if value in (None, ""):
            found[q.key] = ["Please answer this question."]
        elif value not in {c for c, _, _ in q.choices}:
            found[q.key] = [f"{value!r} is not one of the answers."]
    return found
