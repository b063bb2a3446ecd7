"""Administration of holiday arrangements (节假日安排): the years stored, whether next year's is missing, and a form
to load a year's arrangement (the same check and recomputation as ``careflow calendar load``). Admin only; audited
by :mod:`careflow.holidays`."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import select
from starlette.responses import Response

from careflow.holiday_warning import missing_next_year
from careflow.holidays import load_arrangement_text
from models.errors import error_text
from models.holidays import ArrangementError, HolidayArrangement, Phrase
from web.deps import AdminPage, DbDep, FormDep, csrf_protect
from web.form_pages import form_page
from web.templating import render, translator

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _page(request: Request, db, *, text: str = "", errors: list[str] | None = None, result=None,
          status: int = 200) -> Response:
    rows = db.exec(select(HolidayArrangement).order_by(HolidayArrangement.year.desc())).all()
    return render(request, "admin_calendar.html", {"rows": rows, "missing": missing_next_year(), "text": text,
                                                   "errors": errors or [], "result": result}, status)


@router.get("/admin/calendar")
def calendar_page(request: Request, db: DbDep, user: AdminPage) -> Response:
    """The stored arrangements, newest year first, and the form to load one."""
    return _page(request, db)


@router.post("/admin/calendar")
@form_page("/admin/calendar")
def load_calendar_form(request: Request, db: DbDep, user: AdminPage, form: FormDep) -> Response:
    """Load the pasted arrangement: errors (naming field and value, in the page's language) shown on the page,
    nothing written; on success the page shows what was recomputed."""
    text = form.get("text", "")
    text = text if isinstance(text, str) else ""
    try:
        result = load_arrangement_text(text, where=Phrase("holidays.where.form"), actor=user.username)
    except ArrangementError as exc:
        return _page(request, db, text=text, errors=[error_text(exc, translator(request).lang)], status=400)
    db.expire_all()
    return _page(request, db, result=result)


