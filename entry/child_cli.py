"""``careflow child register``: register a child and show the migrant-child test (流动儿童, the policy's section 一)
with its reasons.

Dates are typed ``YYYY-MM-DD``; counties by code or name; key care criteria by their values in
:class:`models.eligibility.KeyCareCriterion`. The resident ID is printed masked. Imports inside the command are
marked ``# start-up``: they load the database layer (sqlmodel, about 1 s), which ``careflow --help`` does not need.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

import typer

from entry.user_input import USER_ERRORS, fail
from models.resident_id import mask_resident_id

child_app = typer.Typer(help="Register children (儿童登记).", no_args_is_help=True)


@child_app.command("register")
def child_register(
    resident_id: Annotated[str, typer.Option(help="18-character resident ID (GB 11643)")],
    name: Annotated[str, typer.Option(help="full name")],
    hukou: Annotated[str, typer.Option(help="household-registration county (户籍地): code or name")],
    residence: Annotated[str, typer.Option(help="residence county (居住地): code or name")],
    arrived: Annotated[str, typer.Option(help="date the child arrived, YYYY-MM-DD")],
    area: Annotated[str, typer.Option(help="township (9) or village/community (12 digit) code")] = "",
    key_care: Annotated[Optional[list[str]], typer.Option(help="key care criterion (repeatable)")] = None,
    actor: Annotated[str, typer.Option("--as", help="who registers")] = "caseworker",
) -> None:
    """Register a child and show the migrant-child test with its reasons."""
    from careflow.registration import register_child  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel
    from models.eligibility import KeyCareCriterion  # start-up: the policy's YAML reader

    try:
        arrival = date.fromisoformat(arrived)
    except ValueError:
        fail(ValueError(f"field 'arrived': {arrived!r} is not a date (YYYY-MM-DD)"))
    try:
        criteria = {KeyCareCriterion(c) for c in key_care or []}
    except ValueError as exc:
        fail(ValueError(f"field 'key_care': {exc}"))
    try:
        with session_scope() as session:
            reg = register_child(session, resident_id=resident_id, full_name=name, hukou_county=hukou,
                                 residence_county=residence, arrival_date=arrival, residence_area_code=area,
                                 key_care_criteria=criteria, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"child {reg.child.id} ({mask_resident_id(reg.child.resident_id)}) registered")
    typer.echo(f"migrant child (流动儿童): {'yes' if reg.assessment.is_migrant else 'no'}")
    for reason in reg.assessment.reasons:
        typer.echo(f"  {'✓' if reason.passed else '✗'} {reason.text_zh} / {reason.text_en}")
