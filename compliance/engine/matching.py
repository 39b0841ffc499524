"""Fuzzy name matching for AML screening: pure functions, no ORM.

A name is compared in three forms, and the best score wins:
1. transliterated to ASCII (anyascii: Cyrillic, Arabic, accents), lower-cased, punctuation gone;
2. the same with common spelling variants folded to a phonetic skeleton (kh→h, ks→x, ph→f,
   every vowel → a, doubled letters single), which catches Mohammed/Muhammad and
   Aleksandr/Alexander;
3. both scored with token_sort_ratio (order-independent: "Ivanov Aleksandr") and WRatio
   (partial and token-set aware), from rapidfuzz.
Date of birth and country then move the score: an equal date of birth adds, a different
one subtracts (a different person with the same name), likewise for the country.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from anyascii import anyascii
from rapidfuzz import fuzz

DOB_MATCH_BONUS = 8.0
DOB_YEAR_MATCH_BONUS = 3.0
DOB_MISMATCH_PENALTY = 15.0
COUNTRY_MATCH_BONUS = 4.0
COUNTRY_MISMATCH_PENALTY = 6.0

_NON_ALPHA = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
# Spelling variants folded before vowels are: applied in order, on ASCII lower case.
_FOLDS = [
    ("kh", "h"),
    ("ks", "x"),
    ("cks", "x"),
    ("ph", "f"),
    ("th", "t"),
    ("dh", "d"),
    ("gh", "g"),
    ("ck", "k"),
    ("q", "k"),
    ("c", "k"),
    ("w", "v"),
    ("y", "i"),
    ("j", "i"),
    ("z", "s"),
]
_VOWELS = re.compile(r"[aeiou]+")
_DOUBLES = re.compile(r"(.)\1+")


def normalize(name: str) -> str:
    """ASCII, lower case, letters and single spaces only."""
    text = anyascii(name or "").lower().replace("-", " ").replace("'", "")
    return _SPACES.sub(" ", _NON_ALPHA.sub(" ", text)).strip()


def skeleton(name: str) -> str:
    """A phonetic key of each word of a normalized name."""
    words = []
    for word in normalize(name).split():
        for old, new in _FOLDS:
            word = word.replace(old, new)
        # Keep the first letter as it is, fold the vowels of the rest.
        word = word[0] + _VOWELS.sub("a", word[1:]) if word else word
        words.append(_DOUBLES.sub(r"\1", word))
    return " ".join(words)


def name_score(a: str, b: str) -> float:
    """0-100: how alike two names are, whatever their order, script or accents."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return 0.0
    sa, sb = skeleton(a), skeleton(b)
    plain = max(fuzz.token_sort_ratio(na, nb), fuzz.WRatio(na, nb))
    phonetic = max(fuzz.token_sort_ratio(sa, sb), fuzz.WRatio(sa, sb))
    # The skeleton loses information, so a perfect phonetic match counts a little less.
    return float(max(plain, phonetic * 0.97))


@dataclass(frozen=True)
class Subject:
    name: str
    date_of_birth: date | None = None
    country: str = ""


@dataclass(frozen=True)
class Candidate:
    ref: str
    name: str
    aliases: tuple[str, ...] = ()
    date_of_birth: date | None = None
    country: str = ""
    list_name: str = ""


@dataclass(frozen=True)
class Match:
    ref: str
    name: str
    matched_name: str
    list_name: str
    name_score: Decimal
    score: Decimal
    reasons: tuple[str, ...]


def _score(value: float) -> Decimal:
    return Decimal(str(max(0.0, min(100.0, value)))).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def score_candidate(subject: Subject, candidate: Candidate) -> Match:
    """The subject against one watch-list entry: best name or alias, moved by birth date and country."""
    best, best_name = 0.0, candidate.name
    for name in (candidate.name, *candidate.aliases):
        s = name_score(subject.name, name)
        if s > best:
            best, best_name = s, name
    score = best
    reasons = [f"name {best:.0f}"]
    if subject.date_of_birth and candidate.date_of_birth:
        if subject.date_of_birth == candidate.date_of_birth:
            score += DOB_MATCH_BONUS
            reasons.append("same date of birth")
        elif subject.date_of_birth.year == candidate.date_of_birth.year:
            score += DOB_YEAR_MATCH_BONUS
            reasons.append("same birth year")
        else:
            score -= DOB_MISMATCH_PENALTY
            reasons.append("different date of birth")
    if subject.country and candidate.country:
        if subject.country.upper() == candidate.country.upper():
            score += COUNTRY_MATCH_BONUS
            reasons.append("same country")
        else:
            score -= COUNTRY_MISMATCH_PENALTY
            reasons.append("different country")
    return Match(
        ref=candidate.ref,
        name=candidate.name,
        matched_name=best_name,
        list_name=candidate.list_name,
        name_score=_score(best),
        score=_score(score),
        reasons=tuple(reasons),
    )


def screen(subject: Subject, candidates: list[Candidate], *, threshold: float, floor: float = 60.0) -> list[Match]:
    """Matches worth showing (name score at least `floor`), best first; hits are those >= threshold."""
    matches = [m for m in (score_candidate(subject, c) for c in candidates) if float(m.name_score) >= floor]
    return sorted(matches, key=lambda m: m.score, reverse=True)
