"""Target-group facts of a child and each service-list item's check: read (caseworkers and managers of the
jurisdiction), record (caseworkers), in the caller's language. Errors are Chinese and name the field (422)."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from web.api_errors import api_invalid
from web.deps import ApiCaseworker, ApiReader, DbDep
from web.eligibility_view import (
    FactIn, FactRowOut, ItemCheckOut, audit_read, eligibility_out, facts_out, record_fact_as,
)
from web.inputs import CASE_REFERENCE
from web.scope import visible_case, visible_child
from web.templating import translator

router = APIRouter(tags=["eligibility"])


@router.get("/children/{child_id}/facts", response_model=list[FactRowOut])
def read_facts(request: Request, db: DbDep, user: ApiReader, child_id: uuid.UUID) -> list[FactRowOut]:
    """Every target-group fact of the child: the latest record (value, source, date, who) and the earlier ones
    (audited ``child.facts_read``)."""
    child = visible_child(db, user, child_id)
    audit_read(db, child, user.username, "api.facts")
    return facts_out(db, child, translator(request))


@router.post("/children/{child_id}/facts", response_model=list[FactRowOut], status_code=201)
def record_fact(request: Request, db: DbDep, user: ApiCaseworker, child_id: uuid.UUID, data: FactIn
                ) -> list[FactRowOut]:
    """Record a fact (``fact``: e.g. ``disability``; ``value``: ``yes``/``no``/``unknown`` or an enrolment; ``source``:
    ``caseworker``/``survey``/``department``; ``established_on`` default today). Returns the child's facts."""
    child = visible_child(db, user, child_id)
    try:
        record_fact_as(db, user, child, data)
    except ValueError as exc:
        raise api_invalid(request, exc) from None  # the field by its label, in the caller's language
    db.commit()
    return facts_out(db, child, translator(request))


@router.get("/cases/{reference}/eligibility", response_model=list[ItemCheckOut])
def check_eligibility(request: Request, db: DbDep, user: ApiReader,
                      reference: Annotated[str, Path(pattern=CASE_REFERENCE)],
                      item: Annotated[int | None, Query(ge=1, le=99)] = None) -> list[ItemCheckOut]:
    """The target-group check of every service-list item (or ``item``) on the case's child today, as a referral's
    start applies it: ``met`` starts, ``not_met`` is refused, ``unknown`` needs ``eligibility_override``."""
    _case, child = visible_case(db, user, reference)
    audit_read(db, child, user.username, "api.eligibility")
    return eligibility_out(db, child, translator(request), item)
