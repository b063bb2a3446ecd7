"""``careflow policy …``: check and load a city's service list (市级关爱服务清单) against the provincial one.

The policy's rule (方案 四): a city's list may add to the provincial list (``policy/service_list.yaml``) but never be
narrower. A narrower list exits 1 (refused, unless ``--force`` on load, the differences then audited), a malformed
file exits 2. Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about
1 s), which ``careflow --help`` does not need.
"""
from __future__ import annotations

from typing import Annotated

import typer

from core.settings import get_settings
from entry.user_input import fail

policy_app = typer.Typer(help="The policy as data: city service lists (市级关爱服务清单).", no_args_is_help=True)


def _print_differences(differences) -> None:
    for difference in differences:
        typer.echo(f"  {difference}")


@policy_app.command("check-city-list")
def policy_check_city_list(file: Annotated[str, typer.Argument(help="the city's list: YAML of "
                                                                   "policy/service_list.yaml's shape plus "
                                                                   "city_code and published_on")]) -> None:
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
    typer.echo(f"{city_list.city_name} ({city_list.city_code}) service list published {city_list.published_on}: "
               f"{len(city_list.items)} item(s), {len(differences)} difference(s) from the provincial list")
    _print_differences(differences)
    narrower = [d for d in differences if d.narrower]
    if narrower:
        typer.secho(f"NOT accepted: narrower than the provincial list in {len(narrower)} way(s) "
                    "(覆盖范围和实现程度不得低于省级关爱服务清单)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo("accepted: covers every item of the provincial list")


@policy_app.command("load-city-list")
def policy_load_city_list(
    file: Annotated[str, typer.Argument(help="the city's list (see check-city-list)")],
    force: Annotated[bool, typer.Option("--force", help="load a narrower list anyway (the differences are "
                                                        "recorded in the audit trail)")] = False,
    actor: Annotated[str, typer.Option("--as", help="who loads it (audited)")] = "manager",
) -> None:
    """Load a city's service list: check it, then create its dated duties for the city's civil affairs bureau
    (file with the provincial civil affairs department within 10 days; republish in two years) and notify it.

    A narrower list is refused (exit 1) unless --force. Loading the same list again creates nothing new.
    """
    from careflow.city_list import NarrowerCityList, load_city_list_file  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel

    try:
        result = load_city_list_file(file, actor=actor, force=force)
    except NarrowerCityList as exc:
        typer.secho(f"refused: {exc}\n(use --force to load it anyway; the differences are then recorded)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    except (ValueError, LookupError, OSError) as exc:
        fail(exc)
    city_list = result.city_list
    typer.echo(f"{city_list.city_name} ({city_list.city_code}) service list published {city_list.published_on} "
               f"loaded{' with --force' if result.forced else ''}")
    if result.forced:
        _print_differences([d for d in result.differences if d.narrower])
    for task in result.duties:
        provisional = "（暂定 provisional）" if task.due_provisional else ""
        typer.echo(f"  duty {task.short_ref} {task.duty_key}: {task.unit_code} due "
                   f"{format_local(task.due_at, get_settings().timezone)}{provisional}  {task.title}")
    typer.echo(f"{result.created} duty task(s) created, {len(result.duties) - result.created} already there")
