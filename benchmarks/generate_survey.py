"""Make a realistic monitoring survey (监测摸排表) of one Fujian county, of any size, as CSV or XLSX.

``python -m benchmarks.generate_survey --rows 100000 --county 350302 --round 2026-10 --out survey.csv``

What the rows look like (proportions are this generator's choice; the policy fixes none):

* household registration (户籍地): 55 % another Fujian county (regions from ``policy/regions.yaml``), 35 % a county
  of another province (the usual origins of Fujian's migrant families: Sichuan, Jiangxi, Guizhou, Hunan, Henan,
  Anhui, Chongqing…), 6 % the county itself (local children a county lists by mistake: not migrant), 4 % another
  central district of the same city (not migrant when the county is a central district, 方案 一);
* age 0–16 on the round's date, plus 3 % already 16 (aged out); arrival between birth and the round's date,
  5 % within the last six months (not yet migrant);
* key care targets (重点关爱服务对象): 4 % of the rows — family hardship 45 %, disability 15 %, missing guardianship
  15 %, psychological/behavioural abnormality 12 %, own request for help 10 %, vagrancy 3 %; one in ten of them
  with a second criterion;
* valid GB 11643 ID numbers (birthplace = registration county, check character computed; about 1 in 11 ends in X),
  names, sex matching the ID, guardians and phone numbers, village/community codes inside the county (those of
  the agency directory first);
* ``--defects`` (default 0.5 %): that share of rows each gets one defect a county's file really has — an ID that
  lost its X (stored as a number), a wrong check digit, a duplicate line, an unknown county name, a date without a
  day — on top of mixed date formats everywhere, a title row above the header and a few blank rows.

Deterministic for a given ``--seed``. Streams to the file: memory does not grow with ``--rows``.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import random
import sys
from pathlib import Path

import yaml

from core.settings import get_settings
from models.eligibility import KeyCareCriterion, add_months
from models.regions import get_county, load_regions
from models.resident_id import check_character
from models.survey import RoundLabel

HEADERS = ["序号", "姓名", "性别", "身份证号", "出生日期", "户籍地", "居住地（县区）", "居住地乡镇/村居代码",
           "来本地日期", "重点关爱情形", "监护人", "与儿童关系", "联系电话"]

OUTSIDE_FUJIAN = ["511321", "360731", "430521", "411521", "341222", "500236", "431021", "510722", "420222",
                  "530381", "430722", "360782", "522428", "362330"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "子梓浩宇轩涵欣怡若雨晨一诺依佳俊杰思博文雅静嘉琪明轩睿鑫磊婷悦航宁乐可馨心萱瑶泽铭凯"
CRITERIA_WEIGHTS = [
    (KeyCareCriterion.family_hardship, 45), (KeyCareCriterion.disability, 15),
    (KeyCareCriterion.missing_guardianship, 15), (KeyCareCriterion.psychological_behavioural, 12),
    (KeyCareCriterion.cross_township_help_request, 10), (KeyCareCriterion.vagrancy, 3),
]
KEY_CARE_SHARE = 0.04
RELATIONS = [("父亲", 45), ("母亲", 40), ("祖母", 7), ("祖父", 5), ("其他监护人", 3)]


def _date_text(day: datetime.date, style: int) -> str | int:
    if style == 0:
        return day.isoformat()
    if style == 1:
        return f"{day.year}/{day.month}/{day.day}"
    if style == 2:
        return day.strftime("%Y%m%d")
    if style == 3:
        return f"{day.year}年{day.month}月{day.day}日"
    return (day - datetime.date(1899, 12, 30)).days  # an Excel serial number


class SurveyGenerator:
    """Rows of a county's survey (see the module docstring); iterate :meth:`rows`."""

    def __init__(self, county: str, round_label: str, seed: int = 2026, defects: float = 0.005) -> None:
        self.rng = random.Random(seed)
        self.county = get_county(county)
        self.label = RoundLabel.parse(round_label)
        self.as_of = self.label.as_of
        self.defects = defects
        regions = load_regions()
        self.fujian = [r.code for r in regions.counties if r.code != self.county.code
                       and not (r.central and self.county.central and r.city_code == self.county.city_code)]
        self.central_siblings = [r.code for r in regions.counties if r.code != self.county.code and r.central
                                 and self.county.central and r.city_code == self.county.city_code]
        self.areas = self._areas()
        self.seq: dict[tuple[str, datetime.date], int] = {}
        self.criteria, self.criteria_w = zip(*CRITERIA_WEIGHTS)
        self.relations, self.relations_w = zip(*RELATIONS)

    def _areas(self) -> list[str]:
        data = yaml.safe_load((get_settings().policy_dir / "agency_units.yaml").read_text(encoding="utf-8"))
        known = sorted({str(u["jurisdiction_code"]) for u in data.get("units", [])
                        if u.get("agency_type") == "village_committee"
                        and str(u["jurisdiction_code"]).startswith(self.county.code)})
        synthetic = [f"{self.county.code}{t:03d}{v:03d}" for t in (1, 2, 3) for v in range(1, 9)]
        return known + [a for a in synthetic if a not in known]

    def _hukou(self) -> str:
        roll = self.rng.random()
        if roll < 0.55:
            return self.rng.choice(self.fujian)
        if roll < 0.90:
            return self.rng.choice(OUTSIDE_FUJIAN)
        if roll < 0.96 or not self.central_siblings:
            return self.county.code
        return self.rng.choice(self.central_siblings)

    def _resident_id(self, code: str, birth: datetime.date) -> str:
        key = (code, birth)
        seq = self.seq.get(key, self.rng.randrange(1, 400)) + 1
        if seq > 999:
            seq = 1
        self.seq[key] = seq
        first17 = f"{code}{birth:%Y%m%d}{seq:03d}"
        return first17 + check_character(first17)

    def rows(self, count: int):
        """Yield ``count`` data rows (lists in :data:`HEADERS` order), defects included; blank rows are extra."""
        rng = self.rng
        previous: list | None = None
        for index in range(1, count + 1):
            hukou = self._hukou()
            days_old = rng.randrange(30, int(16 * 365.25))
            if rng.random() < 0.03:
                days_old = int(16 * 365.25) + rng.randrange(2, 300)
            birth = self.as_of - datetime.timedelta(days=days_old)
            rid = self._resident_id(hukou, birth)
            if rng.random() < 0.05:
                arrival = self.as_of - datetime.timedelta(days=rng.randrange(1, 170))
            else:
                arrival = birth + datetime.timedelta(days=rng.randrange(0, max(1, (add_months(self.as_of, -6) - birth).days)))
            arrival = max(arrival, birth)
            criteria = ""
            if rng.random() < KEY_CARE_SHARE:
                chosen = {rng.choices(self.criteria, self.criteria_w)[0]}
                if rng.random() < 0.10:
                    chosen.add(rng.choices(self.criteria, self.criteria_w)[0])
                criteria = "、".join(c.zh for c in sorted(chosen))
            elif rng.random() < 0.5:
                criteria = "无"
            sex = "男" if int(rid[16]) % 2 else "女"
            surname = rng.choice(SURNAMES)
            name = surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            relation = rng.choices(self.relations, self.relations_w)[0]
            guardian = surname + rng.choice(GIVEN) + rng.choice(GIVEN) if relation != "母亲" else (
                rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN))
            row = [index, name, sex, rid, _date_text(birth, rng.randrange(4)), hukou,
                   self.county.name if rng.random() < 0.5 else self.county.code, rng.choice(self.areas),
                   _date_text(arrival, rng.randrange(5)), criteria, guardian, relation,
                   f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"]
            if self.defects and rng.random() < self.defects * 5:
                kind = rng.randrange(5)
                if kind == 0 and rid.endswith("X"):
                    row[3] = rid[:17]                      # stored as a number: the X is gone (recoverable)
                elif kind == 1:
                    row[3] = rid[:17] + ("0" if rid[17] != "0" else "1")  # wrong check digit
                elif kind == 2 and previous is not None:
                    row = list(previous)                   # the same child entered twice
                    row[0] = index
                elif kind == 3:
                    row[5] = "不存在县"                      # an unknown county name
                else:
                    row[8] = f"{arrival.year}年{arrival.month}月"  # a date without a day
            previous = row
            yield row


def write_survey(path: str | Path, rows: int, *, county: str = "350302", round_label: str = "2026-10",
                 seed: int = 2026, defects: float = 0.005, fmt: str | None = None) -> Path:
    """Write a survey of ``rows`` data rows to ``path`` (CSV, UTF-8 with BOM as Excel saves it, or XLSX by the
    suffix or ``fmt``), with a title row above the header and a blank row every ~2,000 rows. Returns the path."""
    path = Path(path)
    fmt = fmt or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
    generator = SurveyGenerator(county, round_label, seed=seed, defects=defects)
    title = f"{generator.county.city_name}{generator.county.name}{round_label} 流动儿童监测摸排表"
    blank_every = 2003
    if fmt == "xlsx":
        import openpyxl  # start-up: the XLSX writer (~0.3 s), only for an XLSX survey

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("摸排表")
        sheet.append([title])
        sheet.append(HEADERS)
        for row in generator.rows(rows):
            if row[0] % blank_every == 0:
                sheet.append([])
            sheet.append(row)
        book.save(path)
        return path
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([title] + [""] * (len(HEADERS) - 1))
        writer.writerow(HEADERS)
        for row in generator.rows(rows):
            if row[0] % blank_every == 0:
                writer.writerow([""] * len(HEADERS))
            writer.writerow(row)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--county", default="350302")
    parser.add_argument("--round", dest="round_label", default="2026-10")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--defects", type=float, default=0.005, help="share of rows with each defect (0 for none)")
    parser.add_argument("--out", required=True, help="file to write (.csv or .xlsx)")
    args = parser.parse_args(argv)
    path = write_survey(args.out, args.rows, county=args.county, round_label=args.round_label, seed=args.seed,
                        defects=args.defects)
    print(f"wrote {args.rows} rows to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
