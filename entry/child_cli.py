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

from core.i18n import cli_language, cli_text as tr, label
from entry.user_input import USER_ERRORS, fail, not_a_date
from models.resident_id import mask_resident_id

child_app = typer.Typer(help=tr("cli.child.help"), no_args_is_help=True)


@child_app.command("register", help=tr("cli.child.register.help"))
def child_register(
    resident_id: Annotated[str, typer.Option(help=tr("cli.child.register.opt.resident_id"))],
    name: Annotated[str, typer.Option(help=tr("cli.child.register.opt.name"))],
    hukou: Annotated[str, typer.Option(help=tr("cli.child.register.opt.hukou"))],
    residence: Annotated[str, typer.Option(help=tr("cli.child.register.opt.residence"))],
    arrived: Annotated[str, typer.Option(help=tr("cli.child.register.opt.arrived"))],
    area: Annotated[str, typer.Option(help=tr("cli.child.register.opt.area"))] = "",
    key_care: Annotated[Optional[list[str]], typer.Option(help=tr("cli.child.register.opt.key_care"))] = None,
    actor: Annotated[str, typer.Option("--as", help=tr("cli.child.register.opt.as"))] = "caseworker",
) -> None:
    """Register a child and show the migrant-child test with its reasons."""
    from careflow.registration import register_child  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel
    from models.eligibility import KeyCareCriterion  # start-up: the policy's YAML reader

    try:
        arrival = date.fromisoformat(arrived)
    except ValueError:
        fail(not_a_date("arrived", arrived))
    try:
        criteria = {KeyCareCriterion(c) for c in key_care or []}
    except ValueError as exc:
        fail(ValueError(tr("cli.out.field", field="key_care", message=exc)))
    try:
        with session_scope() as session:
            reg = register_child(session, resident_id=resident_id, full_name=name, hukou_county=hukou,
                                 residence_county=residence, arrival_date=arrival, residence_area_code=area,
                                 key_care_criteria=criteria, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.child.register.out.registered", id=reg.child.id,
                  resident_id=mask_resident_id(reg.child.resident_id)))
    typer.echo(tr("cli.child.register.out.migrant", answer=label(reg.assessment.is_migrant, lang=cli_language())))
    for reason in reg.assessment.reasons:
        text = reason.text_en if cli_language() == "en" else reason.text_zh
        typer.echo(f"  {'✓' if reason.passed else '✗'} {text}")
