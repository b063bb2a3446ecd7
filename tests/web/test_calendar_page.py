"""The admin's holiday-arrangement page: what is stored, a warning while next year's is missing, and a form that
loads a year (the same check as ``careflow calendar load``: Chinese errors naming field and value, nothing written).
The 2027 text is the TEST fixture, not the official arrangement."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from core.db import session_scope
from careflow.holiday_warning import missing_next_year
from core.db import forget_stored_calendar
from models.holidays import HolidayArrangement

TEST_2027 = Path(__file__).parents[1] / "careflow" / "fixtures" / "TEST_holidays_2027_not_official.yaml"


def _clear_2027():
    with session_scope() as session:
        session.execute(sa.delete(HolidayArrangement).where(HolidayArrangement.year == 2027))
    forget_stored_calendar()


def test_admin_loads_an_arrangement_on_the_page(web_app, world, clients):
    _clear_2027()
    try:
        admin = clients["admin"]
        page = admin.get("/admin/calendar")
        assert page.status_code == 200
        assert "节假日安排" in page.text
        missing = missing_next_year()  # from 1 November: next year (2027 in December 2026)
        if missing:
            assert f"{missing}年节假日安排尚未载入" in page.text

        bad = TEST_2027.read_text(encoding="utf-8").replace("- 2027-02-20", "- 2027-02-17")
        response = admin.post("/admin/calendar", data={"csrf_token": admin.csrf, "text": bad})
        assert response.status_code == 400
        assert "working_days（调休上班日期）" in response.text and "2027-02-17" in response.text
        assert "星期三" in response.text
        english = admin.post("/admin/calendar?lang=en", data={"csrf_token": admin.csrf, "text": bad})
        assert english.status_code == 400
        assert "the submitted holiday arrangement: field working_days (adjusted working days), value " in english.text
        assert "2027-02-17" in english.text and "is a Wednesday" in english.text and "星期三" not in english.text
        admin.get("/admin/calendar?lang=zh")  # back to Chinese (?lang= is remembered)
        with session_scope() as session:
            assert session.get(HolidayArrangement, 2027) is None

        response = admin.post("/admin/calendar", data={"csrf_token": admin.csrf,
                                                       "text": TEST_2027.read_text(encoding="utf-8")})
        assert response.status_code == 200
        assert "2027年节假日安排已载入" in response.text and "测试用节假日安排" in response.text
        assert "2027年节假日安排尚未载入" not in response.text

        assert clients["mgr_a"].get("/admin/calendar").status_code == 403
    finally:
        _clear_2027()
