"""Test data that is valid and unique within a test session."""
from __future__ import annotations

from datetime import date

#: Sequence numbers handed out per (county, birth date): an ID is the county, the birth date and one of 999 numbers.
_ISSUED: dict[tuple[str, date], int] = {}


def make_resident_id(county: str = "511321", birth: date = date(2015, 3, 15)) -> str:
    """A valid resident ID for ``county`` born on ``birth`` (GB 11643 check character), never the same twice in a
    test session: each (county, birth date) has its own sequence 001-999. One counter shared by every pair wrapped
    after 999 IDs in a worker and repeated the busiest pair's IDs (``already registered``, depending on which tests a
    worker ran). Raises RuntimeError when a pair's 999 numbers are used up."""
    from models.resident_id import check_character

    number = _ISSUED.get((county, birth), 0) + 1
    if number > 999:
        raise RuntimeError(f"make_resident_id: the 999 IDs of county {county} born {birth} are used up; "
                           "pass another birth date")
    _ISSUED[(county, birth)] = number
    first17 = f"{county}{birth:%Y%m%d}{number:03d}"
    return first17 + check_character(first17)
