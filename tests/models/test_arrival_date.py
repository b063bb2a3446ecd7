"""The one rule for arrival dates (models.eligibility.check_arrival_date), used by registration and the survey."""
from datetime import date

import pytest

from models.eligibility import check_arrival_date

BORN, TODAY, ROUND_END = date(2015, 8, 1), date(2026, 11, 2), date(2026, 10, 31)


@pytest.mark.parametrize("arrival,code", [
    (date(2015, 7, 31), "before_birth"),
    (date(2026, 11, 3), "in_future"),
    (date(2026, 11, 1), "after_round"),
])
def test_impossible_arrival_dates_are_named(arrival, code):
    problem = check_arrival_date(arrival, birth_date=BORN, today=TODAY, round_end=ROUND_END)
    assert problem is not None and problem.code == code and arrival.isoformat() in problem.message


@pytest.mark.parametrize("arrival", [BORN, date(2023, 8, 20), ROUND_END])
def test_possible_arrival_dates_pass(arrival):
    assert check_arrival_date(arrival, birth_date=BORN, today=TODAY, round_end=ROUND_END) is None


def test_without_a_round_only_today_bounds_it():
    assert check_arrival_date(TODAY, birth_date=BORN, today=TODAY) is None
