"""What changed in a county since its previous survey round (方案 一（一）: the data is refreshed every April and
October, and a county must see who came, who left and who is no longer a migrant child).

:func:`round_changes` compares the records of round R of county C with those of C's previous round P (the latest
round of C before R that has records):

* ``new_arrivals`` — in R, not in P, and not known in another county before (first time surveyed);
* ``moved_in`` — in R, not in P, and careflow had them in another county (``SurveyRecord.moved_from_county``);
* ``moved_out`` — in P, not in R, and now living in another county (their cases and duties went there when that
  county's survey found them, :mod:`careflow.survey.transfer`);
* ``aged_out`` — in P, and 16 (已满十六周岁) by R's date (:func:`models.eligibility.aged_16_from`), whether R still
  lists them or not (their cases are closed with that reason);
* ``no_longer_found`` — in P, not in R, still living in C as far as careflow knows, and not aged out: the county
  should find out where they are;
* ``key_care_started`` / ``key_care_ended`` — in both, and the key care status changed.

Lists show the child's id, masked ID number, name and a detail (e.g. ``→ 350823 上杭县``); counts are exact
even when ``limit`` shortens the lists.
"""
from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from models.eligibility import aged_16_from
from models.errors import FieldLookupError
from models.regions import get_county
from models.resident_id import mask_resident_id
from models.survey import RoundLabel, SurveyRound


@dataclass
class ChangeItem:
    """One child in a change list: ``child_id``, ``resident_id`` (masked), ``name``, ``detail`` (the county moved
    from or to: ``→ 350823 龙岩市上杭县``) and, for a child aged out, ``aged_16_from`` (the day of the 16th birthday;
    worded by the reader's language where it is shown)."""

    child_id: uuid.UUID
    resident_id: str
    name: str
    detail: str = ""
    aged_16_from: datetime.date | None = None


@dataclass
class RoundChanges:
    """The changes of one county's round since its previous one (module docstring); ``counts`` per list."""

    county_code: str
    round_label: str
    previous_label: str | None
    counts: dict[str, int]
    lists: dict[str, list[ChangeItem]] = field(default_factory=dict)

    KINDS = ("new_arrivals", "moved_in", "moved_out", "aged_out", "no_longer_found", "key_care_started",
             "key_care_ended")


def _name(code: str) -> str:
    try:
        return f"{code} {get_county(code).full_name}"
    except ValueError:
        return code


#: The rows of each change list (module docstring): FROM and WHERE over the records ``r`` of the round ``:r`` or of
#: the previous round ``:p`` and their children ``c``; ``:county`` the county, ``:born_after`` the latest birth date of
#: a child aged 16 by the round's date, ``:born_after_previous`` the same by the previous round's date.
_CHANGE_SQL = {
    "new_arrivals": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            WHERE r.round_id = :r AND r.moved_from_county = ''
              AND NOT EXISTS (SELECT 1 FROM survey_record q WHERE q.round_id = :p AND q.child_id = r.child_id)""",
    "moved_in": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            WHERE r.round_id = :r AND r.moved_from_county <> ''
              AND NOT EXISTS (SELECT 1 FROM survey_record q WHERE q.round_id = :p AND q.child_id = r.child_id)""",
    "moved_out": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            WHERE r.round_id = :p AND c.residence_county_code <> :county
              AND NOT EXISTS (SELECT 1 FROM survey_record q WHERE q.round_id = :r AND q.child_id = r.child_id)""",
    "no_longer_found": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            WHERE r.round_id = :p AND c.residence_county_code = :county AND c.birth_date > :born_after
              AND NOT EXISTS (SELECT 1 FROM survey_record q WHERE q.round_id = :r AND q.child_id = r.child_id)""",
    "aged_out": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            WHERE r.round_id = :p AND c.birth_date <= :born_after AND c.birth_date > :born_after_previous""",
    "key_care_started": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            JOIN survey_record q ON q.round_id = :p AND q.child_id = r.child_id
            WHERE r.round_id = :r AND r.is_key_care AND NOT q.is_key_care""",
    "key_care_ended": """
            FROM survey_record r JOIN child c ON c.id = r.child_id
            JOIN survey_record q ON q.round_id = :p AND q.child_id = r.child_id
            WHERE r.round_id = :r AND NOT r.is_key_care AND q.is_key_care""",
}


def round_changes(session: Session, county: str, round_label: str, *, limit: int | None = None,
                  actor: str = "careflow") -> RoundChanges:
    """The changes of ``county``'s round ``round_label`` since its previous round (module docstring).

    Args:
        county: GB/T 2260 code or name. round_label: ``2026-10``.
        limit: at most this many children per list (counts stay exact).
        actor: who reads (the read is audited: the lists name children).

    Raises:
        ValueError: unknown county or bad label (naming the field). LookupError: the round has no import yet.
    """
    region = get_county(county)  # UnknownRegion: field 'county', worded in the reader's language
    label = str(RoundLabel.parse(round_label))
    current, previous = _round_and_previous(session, region.code, label)
    result = RoundChanges(county_code=region.code, round_label=label,
                          previous_label=previous.label if previous else None, counts={})
    params = {"r": current.id, "p": previous.id if previous else -1, "county": region.code,
              # aged 16 by a date d  ⇔  aged_16_from(birth) <= d  ⇔  birth <= the latest birth date aged out by d
              "born_after": _latest_birth_aged_out(current.as_of),
              "born_after_previous": _latest_birth_aged_out(previous.as_of) if previous else datetime.date(1, 1, 1)}
    for kind in RoundChanges.KINDS:
        result.counts[kind], result.lists[kind] = _change_list(session, kind, params, limit)
    record_audit(session, actor=actor, action="survey.changes_read", entity_type="survey_round",
                 entity_id=current.id, reason=f"{region.code} {label}", detail=dict(result.counts))
    return result


def _round_and_previous(session: Session, county_code: str, label: str) -> tuple[SurveyRound, SurveyRound | None]:
    """The county's round ``label`` and its latest round before it (None for its first).

    Raises:
        LookupError: the county has no round ``label`` yet (field ``round``).
    """
    current = session.exec(select(SurveyRound).where(SurveyRound.county_code == county_code,
                                                     SurveyRound.label == label)).first()
    if current is None:
        raise FieldLookupError("round", "problem.round_not_imported", county=county_code, round=label)
    previous = session.exec(
        select(SurveyRound).where(SurveyRound.county_code == county_code, SurveyRound.label < label)
        .order_by(SurveyRound.label.desc())).first()
    return current, previous


def _change_list(session: Session, kind: str, params: dict, limit: int | None) -> tuple[int, list[ChangeItem]]:
    """How many children the change list ``kind`` has, and its first ``limit`` (all for None) in line order."""
    body = _CHANGE_SQL[kind]
    dates = [sa.bindparam(name, type_=sa.Date()) for name in ("born_after", "born_after_previous")
             if f":{name}" in body]
    count = session.connection().execute(sa.text(f"SELECT COUNT(*) {body}").bindparams(*dates), params).scalar_one()
    query = sa.text(
        f"SELECT c.id, c.resident_id, c.full_name, r.moved_from_county, c.residence_county_code, c.birth_date "
        f"{body} ORDER BY r.line" + (f" LIMIT {int(limit)}" if limit is not None else "")
    ).bindparams(*dates).columns(
        sa.column("id", sa.Uuid), sa.column("resident_id", sa.String), sa.column("full_name", sa.String),
        sa.column("moved_from_county", sa.String), sa.column("residence_county_code", sa.String),
        sa.column("birth_date", sa.Date))
    items = []
    for child_id, rid, name, moved_from, residence, birth in session.connection().execute(query, params):
        detail = ""
        if kind == "moved_in":
            detail = f"← {_name(moved_from)}"
        elif kind == "moved_out":
            detail = f"→ {_name(residence)}"
        aged = aged_16_from(birth) if kind == "aged_out" else None
        items.append(ChangeItem(child_id, mask_resident_id(rid), name, detail, aged))
    return count, items


def _latest_birth_aged_out(day: datetime.date) -> datetime.date:
    """The latest birth date of a child who is 16 on ``day`` (aged_16_from(birth) <= day)."""
    try:
        guess = day.replace(year=day.year - 16)
    except ValueError:
        guess = day.replace(year=day.year - 16, day=28)
    # walk to the exact boundary (29 February births make the year arithmetic uneven)
    while aged_16_from(guess) > day:
        guess -= datetime.timedelta(days=1)
    while aged_16_from(guess + datetime.timedelta(days=1)) <= day:
        guess += datetime.timedelta(days=1)
    return guess
