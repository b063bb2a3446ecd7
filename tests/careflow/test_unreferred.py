"""The needs list's SQL (careflow/unreferred.py) says what the Python rules say, on both databases: children at the
boundaries of every rule (birthdays, the 1 September cut-off, six months of residence, central districts, facts
recorded and overwritten, enrolment, key care grounds, referrals) are listed for an item exactly when
``evaluate_item`` says every rule is met and no referral of the item exists; the date bounds agree with the rules
day by day; a page is one statement whatever its size."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from careflow.cases import open_case
from careflow.child_facts import child_profile, today
from careflow.unreferred import referred_item, unreferred_children
from models.case import PathwayRun, PathwayStatus
from models.child import Child
from models.child_facts import ChildFact
from models.eligibility import add_months, assess_migrant_child, migrant_date_bounds
from models.eligibility_rules import ChildProfile, Rule, age_birth_bounds, evaluate_item, evaluate_rule, \
    school_stage_births
from models.policy import load_policy
from tests.factories import make_resident_id
from web.eligibility_view import child_referrals

DAY = dt.timedelta(days=1)
ACTOR = "needs.test"


# --------------------------------------------------------------------------------------------- pure bounds


ONS = [dt.date(2026, 12, 6), dt.date(2028, 2, 29), dt.date(2027, 2, 28), dt.date(2027, 3, 1), dt.date(2026, 8, 31),
       dt.date(2026, 9, 1), dt.date(2025, 9, 30)]


@pytest.mark.parametrize("on", ONS)
def test_the_date_bounds_agree_with_the_rules_day_by_day(on):
    births = [on - dt.timedelta(days=365 * 19) + DAY * i for i in range(365 * 20)]  # one year past ``on`` too
    migrant = migrant_date_bounds(on)
    for rule in (Rule("age", min_years=0, under_years=7), Rule("age", min_years=3, under_years=7),
                 Rule("age", min_years=6), Rule("age", under_years=16)):
        after, by = age_birth_bounds(rule, on)
        wrong = [b for b in births if (evaluate_rule(rule, ChildProfile(b, "511321", "350302", b), on).status == "met")
                 != ((after is None or b > after) and (by is None or b <= by))]
        assert wrong == [], rule
    for stage in ("compulsory", "senior_high", "secondary_vocational"):
        first, last = school_stage_births(stage, on)
        rule = Rule("school_stage", stage=stage)
        wrong = [b for b in births if (evaluate_rule(rule, ChildProfile(b, "511321", "350302", b), on).status == "met")
                 != (first <= b <= last)]
        assert wrong == [], stage
    for birth in births[::5]:
        for arrival in (birth - 9 * DAY, birth, birth + 100 * DAY, *(add_months(on, -6) + d * DAY for d in (-1, 0, 1, 2,
                                                                                                           3)), on + DAY):
            python = assess_migrant_child(birth_date=birth, hukou_county="511321", residence_county="350302",
                                          arrival_date=arrival, on=on).is_migrant
            sql = migrant.born_after < birth <= migrant.resident_by and arrival <= migrant.resident_by
            assert python == sql, (birth, arrival)


def test_a_referral_names_its_item_as_the_child_page_reads_it():
    assert [referred_item(p) for p in ({"item": "11"}, {"item": 11}, {"item": "011"}, {"item": " 11"}, {}, None)] == \
        [11, 11, 11, None, None, None]


# --------------------------------------------------------------------------------------------- the SQL list


def _child(session, birth: dt.date, *, hukou="511321", residence="350302", arrival: dt.date | None = None,
           key_care=(), label="") -> Child:
    child = Child(resident_id=make_resident_id("511321", birth), full_name=f"需{label}{uuid.uuid4().hex[:4]}",
                  birth_date=birth, hukou_county_code=hukou, residence_county_code=residence,
                  residence_area_code=f"{residence}001001" if residence == "350302" else "",
                  arrival_date=arrival or max(birth, today() - 3 * 365 * DAY), key_care_criteria=list(key_care),
                  created_by=ACTOR)
    session.add(child)
    session.flush()
    return child


def _fact(session, child, key, value, established_on, recorded_at=None):
    session.add(ChildFact(child_id=child.id, fact_key=key, value=value, source="caseworker",
                          established_on=established_on, recorded_by=ACTOR,
                          **({"recorded_at": recorded_at} if recorded_at else {})))


def _refer(session, child, item, pathway="service_referral"):
    case = open_case(session, child_id=child.id, caseworker=ACTOR)
    session.flush()
    session.add(PathwayRun(case_id=case.id, pathway=pathway, parameters={"item": item} if item is not None else {},
                           status=PathwayStatus.cancelled, started_by=ACTOR))


def _ages(session, on: dt.date) -> list[Child]:
    """The day before, of and after the 1st, 3rd, 6th, 7th and 16th birthdays (relative to ``on``)."""
    return [_child(session, add_months(on, -12 * years) + d * DAY, label=f"{years}岁{d:+d}")
            for years in (1, 3, 6, 7, 16) for d in (-1, 0, 1)]


def _school(session, on: dt.date) -> list[Child]:
    """Born 31 August or 1 September of the years at the edges of school: before and after the cut-off."""
    return [_child(session, dt.date(on.year - years, month, day), label=f"{years}年{month}月")
            for years in (6, 7, 15, 16, 18) for month, day in ((8, 31), (9, 1))]


def _places(session, on: dt.date) -> list[Child]:
    """Who is no migrant child, or only just one: the place and six-month tests."""
    ten = add_months(on, -120)
    six = add_months(on, -6)
    return [_child(session, ten, hukou="350302", label="同县"),
            _child(session, ten, hukou="350303", label="同市中心城区"),
            _child(session, ten, hukou="350102", label="他市中心城区"),
            _child(session, ten, hukou="350182", residence="350112", label="旧代码同县"),
            _child(session, ten, hukou="350182", residence="350302", label="旧代码他县"),
            _child(session, ten, hukou="350322", label="本市县"),
            *[_child(session, ten, arrival=six + d * DAY, label=f"到达{d:+d}") for d in (-1, 0, 1)],
            _child(session, add_months(on, -5), label="出生不满6月"),
            _child(session, on + DAY, arrival=on + DAY, label="未出生")]


def _facts(session, on: dt.date) -> list[Child]:
    """Facts recorded, overwritten, disputed; key care grounds; enrolment; referrals."""
    ten = add_months(on, -120)
    made = {k: _child(session, ten, label=k) for k in (
        "残疾是", "残疾否", "残疾改否", "残疾旧记录晚录", "残疾待核实", "重点残疾", "重点残疾记否", "孤儿", "艾滋待核实",
        "事实无人抚养", "高中在读", "未入学", "已转介11", "已转介18", "转介整数", "他路径")}
    made["义务在读16"] = _child(session, dt.date(on.year - 16, 9, 1), label="义务在读16")
    made["重点残疾"].key_care_criteria = ["family_hardship", "disability"]
    made["重点残疾记否"].key_care_criteria = ["disability"]
    earlier, now = on - 30 * DAY, dt.datetime.now(dt.timezone.utc)
    for key, fact, values in (("残疾是", "disability", ["yes"]), ("残疾否", "disability", ["no"]),
                              ("残疾改否", "disability", ["yes", "no"]), ("残疾待核实", "disability", ["unknown"]),
                              ("重点残疾记否", "disability", ["no"]), ("孤儿", "orphan", ["yes"]),
                              ("艾滋待核实", "hiv_affected", ["unknown"]), ("事实无人抚养", "de_facto_unsupported", ["yes"]),
                              ("高中在读", "school_enrolment", ["senior_high"]), ("未入学", "school_enrolment", ["not_enrolled"]),
                              ("义务在读16", "school_enrolment", ["compulsory"]), ("已转介11", "disability", ["yes"]),
                              ("转介整数", "disability", ["yes"])):
        for n, value in enumerate(values):  # the same day, recorded later: the later record wins
            _fact(session, made[key], fact, value, earlier, now + n * dt.timedelta(seconds=1))
    # a "yes" established later but recorded first still wins over an older "no" recorded afterwards
    _fact(session, made["残疾旧记录晚录"], "disability", "yes", earlier, now)
    _fact(session, made["残疾旧记录晚录"], "disability", "no", earlier - 10 * DAY, now + dt.timedelta(seconds=5))
    _refer(session, made["已转介11"], "11")
    _refer(session, made["已转介18"], "18")
    _refer(session, made["转介整数"], 11)
    _refer(session, made["他路径"], None, pathway="guardianship")
    session.flush()
    return list(made.values())


@pytest.fixture
def boundary_children(session):
    on = today()
    children = _ages(session, on) + _school(session, on) + _places(session, on) + _facts(session, on)
    session.flush()
    return children


def _expected(session, children, number: int, on: dt.date) -> set:
    rules = load_policy().service_items[number].eligibility
    return {c.id for c in children
            if evaluate_item(number, rules, child_profile(session, c), on).status == "met"
            and not child_referrals(session, c).get(number)}


def test_the_sql_list_is_exactly_the_children_the_rules_qualify_and_nobody_referred(session, boundary_children):
    children = boundary_children
    scope = Child.id.in_([c.id for c in children])
    base = today()
    ons = [base - DAY, base, base + DAY, dt.date(base.year, 8, 31), dt.date(base.year, 9, 1)]
    seen = set()
    for number in load_policy().service_items:
        for on in ons:
            listed = set(session.execute(unreferred_children(number, on, scope).with_only_columns(Child.id))
                         .scalars().all())
            expected = _expected(session, children, number, on)
            assert listed == expected, (number, on, [c.full_name for c in children if c.id in listed ^ expected])
            seen |= listed
    names = {c.full_name[1:-4] for c in children if c.id in seen}
    assert {"残疾是", "重点残疾", "残疾旧记录晚录", "孤儿", "事实无人抚养", "3岁+1", "到达-1"} <= names
    assert not {"同县", "同市中心城区", "旧代码同县", "出生不满6月", "未出生"} & names
    on = base  # spot checks of what the rules say, so that the test is not only "both agree"
    listed_11 = {c.full_name[1:-4] for c in session.exec(unreferred_children(11, on, scope)).scalars()}
    assert listed_11 == {"残疾是", "重点残疾", "残疾旧记录晚录"}
    listed_4 = {c.full_name[1:-4] for c in session.exec(unreferred_children(4, on, scope)).scalars()}
    assert "高中在读" in listed_4 and "义务在读16" not in listed_4


def test_a_page_is_one_statement_whatever_its_size(session, boundary_children):
    scope = Child.id.in_([c.id for c in boundary_children])
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = session.get_bind()
    session.flush()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for size in (1, 50):
            statements.clear()
            rows = session.execute(unreferred_children(18, today(), scope).order_by(Child.full_name, Child.id)
                                   .limit(size)).scalars().all()
            assert 1 <= len(rows) <= size and len(statements) == 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
