"""Which cases are confidential: a case that carries a pathway marked ``confidential`` in policy/pathways/*.yaml (the
police's or procuratorate's misconduct notice, 闽民童〔2025〕5号 measure 十一). Such a case is the agencies' concerned
and the managers': caseworkers neither list nor open it, and nothing a caseworker starts is put on it."""
from __future__ import annotations

import sqlalchemy as sa

from models.case import Case, PathwayRun
from models.policy import load_policy


def confidential_case():
    """SQL condition on :class:`Case`: a pathway run of a ``confidential`` pathway is on the case
    (``pathway_run.case_id``'s index serves it); ``false`` when no pathway is confidential."""
    keys = [key for key, p in load_policy().pathways.items() if p.confidential]
    if not keys:
        return sa.false()
    return sa.exists().where(PathwayRun.case_id == Case.id, PathwayRun.pathway.in_(keys))
