from datetime import date

import pytest
from django.conf import settings

from compliance.engine.matching import Candidate, Subject, name_score, score_candidate, screen

THRESHOLD = settings.AML_MATCH_THRESHOLD

VARIANTS = [
    ("Muhammad Al Rashid", "Mohammed Al-Rashid"),  # transliteration
    ("Alexander Ivanov", "Aleksandr Ivanov"),  # transliteration
    ("Александр Иванов", "Aleksandr Ivanov"),  # Cyrillic script
    ("Ivanov Aleksandr", "Aleksandr Ivanov"),  # swapped order
    ("Jose Muller", "José Müller"),  # dropped accents
    ("Viktor Petrenko", "Victor Petrenko"),  # one letter
    ("Grace Pattel", "Grace Patel"),  # one-letter typo
    ("Omar Hadad", "Omar Haddad"),  # dropped double letter
    ("Sofia Gracia", "Sofia Garcia"),  # transposition
]

UNRELATED = [
    ("Riley Carter", "Aleksandr Ivanov"),
    ("Liam Bennett", "Viktor Petrenko"),
    ("Ava Alvarez", "Mohammed Al-Rashid"),
    ("John Smith", "Jane Doe"),
    ("Emma Dubois", "Emma Dupont"),
]


@pytest.mark.parametrize(("variant", "listed"), VARIANTS)
def test_name_variants_score_above_the_threshold(variant, listed):
    assert name_score(variant, listed) >= THRESHOLD


@pytest.mark.parametrize(("name", "listed"), UNRELATED)
def test_unrelated_names_score_below_the_threshold(name, listed):
    assert name_score(name, listed) < THRESHOLD


def test_an_alias_matches_too():
    candidate = Candidate(ref="1", name="Viktor Petrenko", aliases=("Віктор Петренко", "V. Petrenko"))
    match = score_candidate(Subject(name="Віктор Петренко"), candidate)
    assert match.score >= THRESHOLD and match.ref == "1"
    assert score_candidate(Subject(name="Petrenko V"), candidate).score >= THRESHOLD


def test_same_birth_date_and_country_raise_the_score_and_different_ones_lower_it():
    candidate = Candidate(ref="1", name="Aleksandr Ivanov", date_of_birth=date(1970, 5, 1), country="RU")
    plain = score_candidate(Subject(name="Alexander Ivanov"), candidate).score
    same = score_candidate(Subject(name="Alexander Ivanov", date_of_birth=date(1970, 5, 1), country="RU"), candidate)
    other = score_candidate(Subject(name="Alexander Ivanov", date_of_birth=date(1991, 2, 3), country="US"), candidate)
    assert same.score > plain > other.score
    assert other.score < THRESHOLD  # a namesake born 21 years later elsewhere is not a hit
    assert "same date of birth" in same.reasons


def test_screen_returns_matches_best_first():
    candidates = [Candidate(ref="1", name="Olga Petrova"), Candidate(ref="2", name="Aleksandr Ivanov")]
    found = screen(Subject(name="Alexander Ivanov"), candidates, threshold=THRESHOLD)
    assert [m.ref for m in found] == ["2"]
