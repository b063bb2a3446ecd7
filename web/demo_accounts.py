"""Demo accounts for a local installation (``careflow up``, ``careflow web demo-accounts``).

One account per role, bound to the demo agency directory (``policy/agency_units.yaml``: 莆田市城厢区 and
龙岩市上杭县) and matching the demo case (``careflow demo``: caseworker ``lin.fang``). Passwords are random
per installation, written once to ``$CAREFLOW_HOME/demo-accounts.json`` (mode 0600) so that ``careflow up``
can print them again; an account that was created by hand keeps its password and is listed without one.
Never run this against a production database.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from models.agency import AgencyUnit
from models.user import UserRole, WebUser
from web.users import create_user


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: UserRole
    jurisdiction_code: str = ""
    unit_code: str | None = None
    password: str | None = None
    phone: str = ""  # the caseworker's work phone, shown to the units their cases are referred to

    @property
    def scope(self) -> str:
        return self.unit_code or self.jurisdiction_code


DEMO_ACCOUNTS = [
    DemoAccount("lin.fang", "林芳（龙桥街道儿童督导员）", UserRole.caseworker, "350302001",
                phone="0594-2288101"),
    DemoAccount("zhou.min", "周敏（上杭县儿童督导员）", UserRole.caseworker, "350823",
                phone="0597-3822102"),
    DemoAccount("wang.li", "王丽（凤山社区居委会）", UserRole.agency_officer,
                unit_code="village_committee-350302001001"),
    DemoAccount("chen.qiang", "陈强（城厢分局）", UserRole.agency_officer, unit_code="police-350302"),
    DemoAccount("zheng.min", "郑敏（莆田市救助保护中心）", UserRole.agency_officer, unit_code="rescue_centre-350300"),
    DemoAccount("huang.yan", "黄燕（城厢区妇联）", UserRole.agency_officer, unit_code="womens_federation-350302"),
    DemoAccount("wu.tao", "吴涛（城厢区民政局）", UserRole.agency_officer, unit_code="civil_affairs-350302"),
    DemoAccount("manager.chengxiang", "城厢区民政局（管理）", UserRole.manager, "350302"),
    DemoAccount("manager.putian", "莆田市民政局（管理）", UserRole.manager, "350300"),
    DemoAccount("manager.fujian", "福建省民政厅（管理）", UserRole.manager, "350000"),  # /city-lists: every city
    DemoAccount("admin", "系统管理员", UserRole.admin),
]


def _read(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(passwords, f, ensure_ascii=False, indent=1)


def unit_officer_username(unit_code: str) -> str:
    """The demo officer account of a unit without a named one: ``unit.<unit code>`` (e.g. ``unit.health-350302``)."""
    return f"unit.{unit_code}".lower()[:64]


def ensure_demo_accounts(session: Session, passwords_file: Path) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; return every demo account with its password when known.

    The named accounts of :data:`DEMO_ACCOUNTS` first (those whose agency unit is missing from the directory are
    skipped), then an officer account for every other active unit of the directory (``unit.<code>``,
    :func:`unit_officer_username`), so that every unit a demo case is referred to can answer on the web
    (issue 12).
    """
    passwords = _read(passwords_file)
    named = {a.unit_code for a in DEMO_ACCOUNTS if a.unit_code}
    units = session.exec(select(AgencyUnit).where(AgencyUnit.active.is_(True)).order_by(AgencyUnit.code)).all()
    wanted = list(DEMO_ACCOUNTS) + [
        DemoAccount(unit_officer_username(u.code), f"{u.name}经办人", UserRole.agency_officer, unit_code=u.code)
        for u in units if u.code not in named]
    result = []
    for account in wanted:
        existing = session.exec(select(WebUser).where(WebUser.username == account.username)).first()
        if existing is None:
            if account.unit_code and session.get(AgencyUnit, account.unit_code) is None:
                continue
            password = secrets.token_urlsafe(9)
            create_user(session, username=account.username, password=password, role=account.role,
                        actor="careflow-demo", display_name=account.display_name,
                        jurisdiction_code=account.jurisdiction_code, unit_code=account.unit_code,
                        phone=account.phone)
            passwords[account.username] = password
        result.append(DemoAccount(account.username, account.display_name, account.role, account.jurisdiction_code,
                                  account.unit_code, passwords.get(account.username)))
    _write(passwords_file, passwords)
    return result
