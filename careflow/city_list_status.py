"""Where every city's service list stands (方案 四): its latest version, when it was loaded, its filing state and its
differences from the provincial list — what the provincial civil affairs department's page (``/city-lists``) shows.

One statement for all the cities asked (the latest version of each through the unique (city_code, version) index,
with its filing and confirmation duties); the cities are the 9 设区市 and 平潭综合实验区 of ``policy/regions.yaml``, a
fixed handful, so that page needs no paging. A city's versions (:func:`version_history`) are paged by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models.city_list_version import CityListVersion, FilingState, filing_state
from models.policy import load_policy
from models.regions import load_regions
from models.task import AgencyTask

__all__ = ["CityListRow", "DifferenceLine", "cities_visible_to", "city_list_overview", "difference_lines",
           "version_history", "version_row"]


@dataclass(frozen=True)
class DifferenceLine:
    """One item of a city list that differs from the provincial list: its number, the service's name (Chinese, as
    the province or the city names it) and the kinds of difference (:data:`models.city_list.DifferenceKind`)."""

    item: int
    service: str
    kinds: tuple[str, ...]
    narrower: bool = False


@dataclass
class CityListRow:
    """A city and its latest list (``version`` None when none was loaded). Times UTC-aware; ``filing``: the
    :class:`~models.city_list_version.FilingState` of the latest version; ``added`` / ``removed`` / ``changed``:
    items the city added, provincial items it lacks, items that differ (renamed, departments, target group,
    content, completion)."""

    city_code: str
    city_name: str
    version: int | None = None
    published_on: date | None = None
    source: str = ""
    loaded_at: datetime | None = None
    loaded_by: str = ""
    forced: bool = False
    filing: FilingState | None = None
    filing_due_at: datetime | None = None
    added: list[DifferenceLine] = field(default_factory=list)
    removed: list[DifferenceLine] = field(default_factory=list)
    changed: list[DifferenceLine] = field(default_factory=list)


def cities_visible_to(jurisdiction: str) -> list[str]:
    """The city codes a manager of ``jurisdiction`` sees: all for the province (``350000``, or none given), else the
    city containing the jurisdiction (a city's or a county's manager sees their own city's list)."""
    cities = sorted(load_regions().cities)
    code = (jurisdiction or "").strip()
    if not code or code[:6].endswith("0000"):
        return cities
    return [c for c in cities if c == code[:6] or (c.endswith("00") and code.startswith(c[:4]))]


def _with_duties(query: sa.Select) -> sa.Select:
    """``query`` (of :class:`CityListVersion`) with each version's filing duty's state, outcome and deadline and its
    confirmation's state and outcome (outer joins: a confirmation exists only once the city filed)."""
    filing, receipt = aliased(AgencyTask), aliased(AgencyTask)
    return (query.add_columns(filing.state, filing.outcome, filing.due_at, receipt.state, receipt.outcome)
            .outerjoin(filing, filing.id == CityListVersion.filing_task_id)
            .outerjoin(receipt, receipt.id == CityListVersion.receipt_task_id))


def city_list_overview(session: Session, cities: list[str], *, now: datetime) -> list[CityListRow]:
    """A :class:`CityListRow` per city of ``cities`` (GB/T 2260 codes, in that order), from one statement; ``now``
    (UTC-aware) decides which unfiled lists are overdue."""
    names = load_regions().cities
    latest = (sa.select(CityListVersion.city_code, sa.func.max(CityListVersion.version).label("version"))
              .where(CityListVersion.city_code.in_(cities)).group_by(CityListVersion.city_code).subquery())
    found = session.execute(_with_duties(
        sa.select(CityListVersion).join(latest, sa.and_(latest.c.city_code == CityListVersion.city_code,
                                                        latest.c.version == CityListVersion.version)))).all()
    by_city = {row[0].city_code: row for row in found}
    return [version_row(by_city[code], now=now) if code in by_city
            else CityListRow(city_code=code, city_name=names.get(code, code)) for code in cities]


def version_history(city_code: str) -> tuple[sa.Select, sa.Select]:
    """The versions of one city with their duties (the page query, rows for :func:`version_row`, to be ordered by
    version and paged by the caller) and its ``SELECT count(*)``."""
    where = CityListVersion.city_code == city_code
    return (_with_duties(sa.select(CityListVersion).where(where)),
            sa.select(sa.func.count()).select_from(CityListVersion).where(where))


def version_row(row, *, now: datetime) -> CityListRow:
    """A :class:`CityListRow` of one result row of :func:`city_list_overview`'s or :func:`version_history`'s query
    (the version, then its duties' columns); ``now`` (UTC-aware) decides whether an unfiled list is overdue."""
    version, f_state, f_outcome, f_due, r_state, r_outcome = tuple(row)
    added, removed, changed = difference_lines(version)
    return CityListRow(
        city_code=version.city_code, city_name=load_regions().cities.get(version.city_code, version.city_code),
        version=version.version, published_on=version.published_on, source=version.source,
        loaded_at=version.loaded_at, loaded_by=version.loaded_by, forced=version.forced, filing_due_at=f_due,
        filing=filing_state(filing_state=f_state, filing_outcome=f_outcome, filing_due_at=f_due,
                            receipt_state=r_state, receipt_outcome=r_outcome, now=now),
        added=added, removed=removed, changed=changed)


def difference_lines(version: CityListVersion) -> tuple[list[DifferenceLine], list[DifferenceLine],
                                                         list[DifferenceLine]]:
    """The stored differences of ``version`` as (added, removed, changed) lines, one line per item, by number."""
    provincial = load_policy().service_items
    city_items = {item["number"]: item for item in version.items}
    added, removed, changed = [], [], {}
    for d in version.differences:
        if d["kind"] == "added_item":
            added.append(DifferenceLine(d["item"], city_items.get(d["item"], {}).get("service", ""), ("added_item",)))
        elif d["kind"] == "missing_item":
            removed.append(DifferenceLine(d["item"], _service(provincial, d["item"]), ("missing_item",), True))
        else:
            line = changed.get(d["item"]) or DifferenceLine(d["item"], _service(provincial, d["item"]), ())
            changed[d["item"]] = DifferenceLine(line.item, line.service, line.kinds + (d["kind"],),
                                                line.narrower or bool(d.get("narrower")))
    return added, removed, [changed[n] for n in sorted(changed)]


def _service(provincial, number: int) -> str:
    item = provincial.get(number)
    return item.service if item is not None else ""
