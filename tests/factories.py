"""Test data that is valid and unique within a test session."""
from __future__ import annotations

import itertools
import random
from datetime import date

_ID_SEQUENCE = itertools.count(random.randrange(1, 999))


def make_resident_id(county: str = "511321", birth: date = date(2015, 3, 15)) -> str:
    """A valid resident ID for ``county`` born on ``birth`` (GB 11643 check character), never the same
    twice in a test session: the sequence number runs through 001-999 (random IDs collided)."""
    from models.resident_id import check_character

    first17 = f"{county}{birth:%Y%m%d}{next(_ID_SEQUENCE) % 999 + 1:03d}"
    return first17 + check_character(first17)
