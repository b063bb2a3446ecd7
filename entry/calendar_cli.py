"""``careflow calendar …``: load the State Council's yearly holiday arrangement (节假日安排) and see what is loaded.

Errors in the file exit with code 2 and a Chinese message naming the field and the value; nothing is written.
Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s), which
``careflow --help`` does not need.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

calendar_app = typer.Typer(help="Holiday arrangements for working-day deadlines (节假日安排).", no_args_is_help=True)


@calendar_app.command("load")
def load_cmd(
    file: Annotated[Path, typer.Argument(help="the year's arrangement: YAML with year, source, holidays, "
                                              "working_days (see README 节假日安排)")],
    actor: Annotated[str, typer.Option("--as", help="who loads it (audited)")] = "admin",
) -> None:
    """Record a year's official arrangement, recompute every open provisional deadline it settles, and tell the
    units and caseworkers whose deadline moved (messages go out with the next sweep). Loading the same file again
    changes nothing and tells nobody."""
    from careflow.holidays import load_arrangement_file  # start-up: sqlmodel
    from models.holidays import ArrangementError  # start-up: sqlmodel

    try:
        result = load_arrangement_file(file, actor=actor)
    except (ArrangementError, LookupError) as exc:
        typer.secho(f"错误：{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    except (OSError, UnicodeDecodeError) as exc:
        why = "不是 UTF-8 编码的文本" if isinstance(exc, UnicodeDecodeError) else \
            "文件不存在" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
        typer.secho(f"错误：无法读取节假日安排文件 {file}：{why}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    a = result.arrangement
    state = "已载入" if result.stored else "此前已载入，内容相同"
    typer.echo(f"{a.year}年节假日安排{state}：{a.source}（放假 {len(a.holidays)} 天，调休上班 {len(a.working_days)} 天）")
    typer.echo(f"重新计算暂定截止时间的任务 {result.examined} 项：截止时间调整 {result.moved} 项，日期不变转为正式 "
               f"{result.confirmed} 项，仍为暂定（涉及其他未载入年份）{result.still_provisional} 项"
               + (f"，无法确定起算时间而未调整 {result.skipped} 项" if result.skipped else ""))
    typer.echo(f"已存入发件箱的调整通知 {result.messages} 条（由巡检发送）")


@calendar_app.command("status")
def status_cmd() -> None:
    """The years whose arrangement is stored, and whether next year's is still missing."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.holiday_warning import missing_next_year  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.holidays import HolidayArrangement  # start-up: sqlmodel
    from sqlmodel import select  # start-up: sqlmodel

    with session_scope() as session:
        rows = session.exec(select(HolidayArrangement).order_by(HolidayArrangement.year)).all()
        for row in rows:
            done = "已完成" if row.recomputed_at else "未完成（请再次载入同一文件）"
            typer.echo(f"{row.year}年：{row.source}；{format_local(row.loaded_at)} 由 {row.loaded_by} 载入；"
                       f"暂定截止时间重算{done}")
    if not rows:
        typer.echo("数据库中尚无节假日安排（使用 policy/calendar 文件和 chinese_calendar 库）")
    missing = missing_next_year()
    if missing:
        typer.echo(f"提醒：{missing}年节假日安排尚未载入，涉及{missing}年的截止时间均为暂定")
