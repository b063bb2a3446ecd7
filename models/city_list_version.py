"""Each version of a city's service list as loaded (市级关爱服务清单版本), and the filing state of each.

Policy: 闽民童〔2025〕5号 四（工作要求）: "各地市关爱服务清单应每两年更新发布一次，并于制定下发后10日内报送省民政厅备案".
A city list loaded by :func:`careflow.city_list.load_city_list` is stored here (migration 0019_city_list): its
items, its differences from the provincial list and the three dated duties it carries — the city's filing, the
city's next republication, and once the city says it filed, the provincial civil affairs department's
confirmation of receipt (the list is "filed" only when the province confirms it).

Public API
----------
* :class:`CityListVersion` — the table ``city_list_version``.
* :class:`FilingState`, :func:`filing_state` — 未报备 / 已报备待确认 / 已确认 / 逾期, from the duties' states (pure).
"""
from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, utcnow
from models.task import OPEN_STATES, TaskState

__all__ = ["CityListVersion", "FilingState", "filing_state"]


class CityListVersion(SQLModel, table=True):
    """One version of a city's list (方案 四): one row per (city, publication date), numbered 1, 2, … per city.

    Attributes:
        city_code: the 设区市's GB/T 2260 code (``350300``) or ``350128`` (平潭综合实验区).
        version: 1 for the city's first list loaded, then one more for each later publication.
        published_on: the date the city issued it (制定下发); its duties count from it.
        source / title_zh / sha256: the city's document number, the list's title, the file's digest (hex).
        items: the city's items as loaded (each :class:`models.policy_lists.ServiceItem`'s JSON dump), to name them.
        differences: each difference from the provincial list (:func:`models.city_list.check_city_list`) as
            ``{"item", "kind", "narrower", "detail", "city_item"}``.
        forced: loaded although narrower than the provincial list (``--force``).
        loaded_at (UTC) / loaded_by: when and by whom it was loaded.
        filing_task_id / republication_task_id: the city bureau's two duties (``agency_task``).
        receipt_task_id: the provincial department's confirmation of receipt, opened when the city records its
            filing (NULL before).
    """

    __tablename__ = "city_list_version"
    __table_args__ = (
        sa.UniqueConstraint("city_code", "published_on", name="uq_city_list_version_city_code_published_on"),
        sa.UniqueConstraint("city_code", "version", name="uq_city_list_version_city_code_version"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    city_code: str = Field(max_length=6)
    version: int
    published_on: date
    source: str = Field(max_length=300)
    title_zh: str = Field(default="", max_length=200)
    sha256: str = Field(default="", max_length=64)
    items: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    differences: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    forced: bool = False
    loaded_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    loaded_by: str = Field(default="", max_length=64)
    filing_task_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agency_task.id",
                                                                 name="fk_city_list_version_filing_task_id")))
    republication_task_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agency_task.id",
                                                                 name="fk_city_list_version_republication_task_id")))
    receipt_task_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agency_task.id",
                                                                 name="fk_city_list_version_receipt_task_id")))


class FilingState(enum.StrEnum):
    """Where a city list's filing with the provincial department stands (方案 四: 10日内报送省民政厅备案)."""

    not_filed = "not_filed"  # 未报备: the city has not recorded a filing, and its deadline has not passed
    awaiting = "awaiting"  # 已报备待确认: the city recorded it; the province has not yet confirmed receipt
    confirmed = "confirmed"  # 已确认: the provincial department confirmed receipt
    overdue = "overdue"  # 逾期: not filed, and the 10 days are over


def filing_state(*, filing_state: str | None, filing_outcome: dict | None, filing_due_at: datetime | None,
                 receipt_state: str | None, receipt_outcome: dict | None, now: datetime) -> FilingState:
    """The :class:`FilingState` of a list from its duties (times UTC-aware; states :class:`TaskState` values).

    Confirmed when the receipt task is completed with ``received`` true; awaiting while the receipt task is open;
    otherwise (no filing recorded, or the province answered that nothing arrived) overdue once ``filing_due_at``
    has passed, else not filed.
    """
    if receipt_state == TaskState.completed and (receipt_outcome or {}).get("received") is True:
        return FilingState.confirmed
    if receipt_state is not None and TaskState(receipt_state) in OPEN_STATES:
        return FilingState.awaiting
    if filing_due_at is not None and now > filing_due_at:
        return FilingState.overdue
    return FilingState.not_filed
