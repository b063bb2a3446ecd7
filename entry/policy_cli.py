"""``careflow policy …``: check and load a city's service list (市级关爱服务清单) against the provincial one.

The policy's rule (方案 四): a city's list may add to the provincial list (``policy/service_list.yaml``) but never be
narrower. A narrower list exits 1 (refused, unless ``--force`` on load, the differences then audited), a malformed
file exits 2. Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about
1 s), which ``careflow --help`` does not need.
"""
from __future__ import annotations

from typing import Annotated

import typer

from core.i18n import cli_language, cli_text as tr, label
from core.settings import get_settings
from entry.user_input import fail

policy_app = typer.Typer(help=tr("cli.policy.help"), no_args_is_help=True)


def difference_text(difference) -> str:
    """What a :class:`models.city_list.Difference` is, in the reader's language (catalogue key
    ``city_list.diff.<kind>`` with its ``values``), e.g. 「责任部门：缺少海峡出版发行集团（新华书店）（省级清单：…）」:
    agency codes by their names in that language (、 between them in Chinese)."""
    lang = cli_language()
    sep = "、" if lang == "zh" else ", "
    values = {name: sep.join(label(code, "agency", lang) for code in value) if isinstance(value, tuple) else value
              for name, value in difference.values.items()}
    return tr(f"city_list.diff.{difference.kind}", **values)


def _print_differences(differences) -> None:
    """Each difference on a line: narrower or for information, the item, what kind of difference, its detail."""
    for d in differences:
        typer.echo(tr("cli.policy.out.difference", level=tr("cli.policy.out.narrower" if d.narrower else
                                                            "cli.policy.out.info"),
                      item=d.item, kind=tr(f"cli.policy.kind.{d.kind}"), detail=difference_text(d)))


@policy_app.command("check-city-list", help=tr("cli.policy.check_city_list.help"))
def policy_check_city_list(file: Annotated[str, typer.Argument(help=tr("cli.policy.check_city_list.arg.file"))]
                           ) -> None:
    """Check a city's service list against the provincial list (方案 四: never narrower).

    Prints every difference (NARROWER or info). Exits 0 when the list is accepted (additions are fine),
    1 when an item is missing or narrower, 2 when the file is malformed.
    """
    from models.city_list import check_city_list, read_city_list  # start-up: sqlmodel

    try:
        city_list = read_city_list(file)
    except (ValueError, OSError) as exc:
        fail(exc)
    differences = check_city_list(city_list.items)
    typer.echo(tr("cli.policy.check_city_list.out.summary", city=city_list.city_name, code=city_list.city_code,
                  published=city_list.published_on, items=len(city_list.items), differences=len(differences)))
    _print_differences(differences)
    narrower = [d for d in differences if d.narrower]
    if narrower:
        typer.secho(tr("cli.policy.check_city_list.out.refused", n=len(narrower)), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(tr("cli.policy.check_city_list.out.accepted"))


@policy_app.command("load-city-list", help=tr("cli.policy.load_city_list.help"))
def policy_load_city_list(
    file: Annotated[str, typer.Argument(help=tr("cli.policy.load_city_list.arg.file"))],
    force: Annotated[bool, typer.Option("--force", help=tr("cli.policy.load_city_list.opt.force"))] = False,
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_loader"))] = "manager",
) -> None:
    """Load a city's service list: check it, then create its dated duties for the city's civil affairs bureau
    (file with the provincial civil affairs department within 10 days; republish in two years) and notify it.

    A narrower list is refused (exit 1) unless --force. Loading the same list again creates nothing new. A newer
    list of the city completes the earlier versions' republication duties (printed); an older one is refused (exit 2).
    """
    from careflow.city_list import NarrowerCityList, load_city_list_file  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel

    try:
        result = load_city_list_file(file, actor=actor, force=force)
    except NarrowerCityList as exc:  # each difference in the reader's words, as check-city-list prints them
        narrower = [d for d in exc.differences if d.narrower]
        _print_differences(narrower)
        typer.secho(tr("cli.policy.load_city_list.out.refused",
                       error=tr("cli.policy.load_city_list.out.narrower", n=len(narrower))),
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    except (ValueError, LookupError, OSError) as exc:
        fail(exc)
    city_list = result.city_list
    typer.echo(tr("cli.policy.load_city_list.out.forced" if result.forced else "cli.policy.load_city_list.out.loaded",
                  city=city_list.city_name, code=city_list.city_code, published=city_list.published_on))
    typer.echo(tr("cli.policy.load_city_list.out.version", n=result.version.version))
    if result.forced:
        _print_differences([d for d in result.differences if d.narrower])
    for task in result.republished:
        typer.echo(tr("cli.policy.load_city_list.out.republished", ref=task.short_ref, duty=task.duty_key))
    for task in result.duties:
        provisional = tr("cli.out.provisional") if task.due_provisional else ""
        typer.echo(tr("cli.policy.load_city_list.out.duty", ref=task.short_ref, duty=task.duty_key,
                      unit=task.unit_code, due=format_local(task.due_at, get_settings().timezone) + provisional,
                      title=task.title))
    typer.echo(tr("cli.policy.load_city_list.out.created", created=result.created,
                  existing=len(result.duties) - result.created))
