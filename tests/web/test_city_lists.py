"""The provincial manager's page of city service lists (/city-lists, 方案 四): every city's current version, when it
was loaded, its filing state and its differences from the provincial list, in Chinese; a city's manager sees only
their city."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest
import yaml
from sqlmodel import select

from careflow.city_list import load_city_list
from core.db import session_scope
from core.paths import PROJECT_ROOT
from models.agency import AgencyUnit
from models.city_list import CityServiceList
from models.dated_duties import DUTY_KINDS
from models.task import AgencyTask
from models.user import UserRole
from tests.web.chinese import chinese_by_english, leaks, visible_text
from tests.web.conftest import sign_in
from web.users import create_user


@pytest.fixture(scope="module")
def province(web_app, world):
    """A provincial manager (350000), and a 厦门市 list loaded with --force that adds item 21, lacks item 7 and names
    fewer departments for item 18 (its filing due long ago: overdue)."""
    data = yaml.safe_load((PROJECT_ROOT / "policy" / "service_list.yaml").read_text(encoding="utf-8"))
    items = {item["number"]: item for item in data["items"]}
    items[18]["departments"].remove("publishing_group")
    data["items"] = [item for item in data["items"] if item["number"] != 7]
    data["items"].append({**items[17], "number": 21, "service": "儿童友好空间服务"})
    data.update({"city_code": "350200", "published_on": date(2025, 6, 9), "source": "厦民〔2025〕21号"})
    username = f"province.mgr.{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        if session.get(AgencyUnit, "civil_affairs-350200") is None:
            session.add(AgencyUnit(code="civil_affairs-350200", agency_type="civil_affairs",
                                   jurisdiction_code="350200", name="厦门市民政局"))
            session.flush()
        first = {**data, "published_on": date(2023, 5, 4), "source": "厦民〔2023〕7号"}
        load_city_list(session, CityServiceList.model_validate(first), actor="厦门市民政局 李明", force=True,
                       now=datetime(2023, 5, 5, 1, tzinfo=timezone.utc))
        load_city_list(session, CityServiceList.model_validate(data), actor="厦门市民政局 李明", force=True,
                       now=datetime(2025, 6, 10, 1, tzinfo=timezone.utc))
        create_user(session, username=username, password="correct horse battery staple", role=UserRole.manager,
                    actor="fixture", jurisdiction_code="350000")
    return sign_in(web_app, username, "correct horse battery staple")


def test_the_provincial_manager_sees_every_city_with_its_version_filing_and_differences(province):
    page = province.get("/city-lists")
    assert page.status_code == 200
    text = " ".join(visible_text(page.text).split())
    assert "市级流动儿童关爱服务清单" in text
    for city in ("福州市", "厦门市", "莆田市", "三明市", "泉州市", "漳州市", "南平市", "龙岩市", "宁德市", "平潭综合实验区"):
        assert city in text
    row = " ".join(visible_text(page.text.split('id="city-350200"')[1].split("</tr>")[0]).split())
    assert "第 2 版" in row and "2025-06-09 发布 · 厦民〔2025〕21号" in row and "低于省级清单，已强制载入" in row
    assert "2025-06-10 09:00 · 厦门市民政局 李明" in row
    assert "逾期" in row and "备案截止 2025-06-19 23:59" in row
    assert "增加 1 项 第 21 项 儿童友好空间服务" in row
    assert "缺少 1 项 第 7 项" in row and "（低于省级）" in row
    assert "变更 1 项 第 18 项" in row and "责任部门减少" in row
    assert leaks(page.text) == []


def test_a_city_manager_sees_only_their_city(province, clients):
    text = visible_text(clients["mgr_city"].get("/city-lists").text)
    assert "莆田市" in text and "厦门市" not in text and "宁德市" not in text


def test_a_citys_versions_are_listed_newest_first(province, clients):
    page = province.get("/city-lists?city=350200")
    assert page.status_code == 200
    history = " ".join(visible_text(page.text.split('id="history"')[1]).split())
    assert "厦门市的历次清单" in history and "共 2 版，第 1–2 版" in history
    assert history.index("第 2 版 2025-06-09 发布") < history.index("第 1 版 2023-05-04 发布 · 厦民〔2023〕7号")
    assert leaks(page.text) == []
    bad = province.get("/city-lists?city=999999")
    assert bad.status_code == 400 and "字段 city（设区市）：'999999' 不是福建省的设区市" in visible_text(bad.text)
    english = visible_text(province.get("/city-lists?city=999999&lang=en").text)
    province.get("/account?lang=zh")
    assert "City (city): '999999' is not the code of a city of Fujian" in english
    assert clients["mgr_city"].get("/city-lists?city=350200").status_code == 404  # 莆田市's manager: not 厦门市


def _civil_affairs_unit(session, city_code: str, name: str) -> None:
    """The city's civil affairs unit in the directory (added once: the database is shared by the session)."""
    if session.get(AgencyUnit, f"civil_affairs-{city_code}") is None:
        session.add(AgencyUnit(code=f"civil_affairs-{city_code}", agency_type="civil_affairs",
                               jurisdiction_code=city_code, name=name))
        session.flush()


def test_the_city_files_and_the_province_confirms_on_the_web(web_app, province):
    """平潭综合实验区's bureau answers 「否」 (refused, in Chinese), then 「是」; 省民政厅's officer confirms receipt in its
    inbox; the page then says 已确认. (A city no other test loads lists for: a list older than a city's latest is
    refused.)"""
    data = yaml.safe_load((PROJECT_ROOT / "policy" / "service_list.yaml").read_text(encoding="utf-8"))
    data.update({"city_code": "350128", "published_on": date(2029, 4, 2), "source": "岚社〔2029〕1号"})
    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        _civil_affairs_unit(session, "350128", "平潭综合实验区社会事业局")
        result = load_city_list(session, CityServiceList.model_validate(data), actor="莆田市民政局")
        filing_id = result.duties[0].id
        for name, unit in (("city", "civil_affairs-350128"), ("province", "civil_affairs-350000")):
            create_user(session, username=f"{name}.officer.{suffix}", password="correct horse battery staple",
                        role=UserRole.agency_officer, actor="fixture", unit_code=unit)
    city = sign_in(web_app, f"city.officer.{suffix}", "correct horse battery staple")
    page = visible_text(city.get(f"/tasks/{filing_id}").text)  # a dated duty: no case, so no empty case row
    assert "关爱服务清单" in page and "个案编号" not in page
    letter = city.get(f"/tasks/{filing_id}/letter")
    assert letter.status_code == 200 and "个案编号" not in visible_text(letter.text)
    assert "儿童个人信息" not in visible_text(letter.text)  # a duty's letter carries no child
    refused = city.post(f"/tasks/{filing_id}/complete", data={"o_filed": "no", "csrf_token": city.csrf})
    assert refused.status_code == 400 and "“否”不能办结报备任务" in visible_text(refused.text)
    filed = city.post(f"/tasks/{filing_id}/complete", data={"o_filed": "yes", "csrf_token": city.csrf})
    assert filed.status_code == 303, filed.text
    row = province.get("/city-lists").text.split('id="city-350128"')[1].split("</tr>")[0]
    assert "已报备待确认" in visible_text(row)
    with session_scope() as session:
        receipt = session.exec(select(AgencyTask).where(
            AgencyTask.duty_key == "city_list_filing_receipt:350128:2029-04-02")).one()
    officer = sign_in(web_app, f"province.officer.{suffix}", "correct horse battery staple")
    inbox = officer.get("/inbox").text
    assert "确认收到市级关爱服务清单备案" in visible_text(inbox)
    # a duty has no case: its card names its task reference alone, with no separator dangling before it
    card = next(c.split("</a>")[0] for c in inbox.split('class="task card')[1:]
                if f'data-task="{receipt.short_ref}"' in c.split(">")[0])
    assert f'<div class="mono">{receipt.short_ref}</div>' in card, card
    done = officer.post(f"/tasks/{receipt.id}/complete", data={"o_received": "yes", "csrf_token": officer.csrf})
    assert done.status_code == 303, done.text
    row = province.get("/city-lists").text.split('id="city-350128"')[1].split("</tr>")[0]
    assert "已确认" in visible_text(row) and "第 1 版" in visible_text(row)


def test_a_city_list_duty_reads_in_english_on_request_and_its_letter_is_a_duty_notice(web_app):
    """A fresh English reader of 南平市's bureau saw the filing duty's Chinese title and instructions on the English
    task page and its letter, and the letter was titled a *referral* notice though a duty refers no child. The
    English page and letter (and its PDF) now read the duty's English words; the Chinese page keeps its words, and
    its letter is a 工作任务通知单."""
    import io

    from pypdf import PdfReader

    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        _civil_affairs_unit(session, "350700", "南平市民政局")
        # the duties alone, as careflow.city_list opens them (a list version of 2032 would refuse other tests' lists)
        tasks = [AgencyTask(case_id=None, pathway_run_id=None, duty_key=f"{kind}:350700:2032-05-06", step_key=kind,
                            agency_type="civil_affairs", unit_code="civil_affairs-350700", jurisdiction_code="350700",
                            title=f"{DUTY_KINDS[kind].title_zh}（南平市，2032-05-06发布）",
                            requested_at=datetime(2032, 5, 7, 1, tzinfo=timezone.utc),
                            due_at=datetime(2032, 5, 16, 15, 59, tzinfo=timezone.utc), deadline_text="10 days")
                 for kind in ("city_list_filing", "city_list_republication")]
        session.add_all(tasks)
        session.flush()
        filing, republication = (t.id for t in tasks)
        create_user(session, username=f"np.officer.{suffix}", password="correct horse battery staple",
                    role=UserRole.agency_officer, actor="fixture", unit_code="civil_affairs-350700")
    reader = sign_in(web_app, f"np.officer.{suffix}", "correct horse battery staple")  # its own language cookie

    chinese = " ".join(visible_text(reader.get(f"/tasks/{filing}").text).split())
    assert "关爱服务清单报送省民政厅备案" in chinese
    assert ("南平市流动儿童关爱服务清单已于2032-05-06制定下发。请于制定下发后10日内报送省民政厅备案"
            "（闽民童〔2025〕5号 四、工作要求）。") in chinese
    letter = visible_text(reader.get(f"/tasks/{filing}/letter").text)
    assert "流动儿童关爱保护工作任务通知单" in letter and "转介通知单" not in letter

    english = reader.get(f"/tasks/{filing}?lang=en").text
    text = " ".join(visible_text(english).split())
    assert "File the city care service list with the provincial civil affairs department" in text
    assert ("The care service list for migrant children of 南平市 was issued on 2032-05-06. Please file it with the "
            "provincial civil affairs department within 10 days of its issue") in text
    assert "关爱服务清单报送省民政厅备案" not in text and "请于" not in text and chinese_by_english(english) == []
    other = " ".join(visible_text(reader.get(f"/tasks/{republication}").text).split())  # the language remembered
    assert "Republish the care service list every two years" in other and "两年更新发布" not in other
    letter = reader.get(f"/tasks/{filing}/letter").text
    shown = " ".join(visible_text(letter).split())
    assert "Duty notice: care and protection of migrant children" in shown and "Referral notice" not in shown
    assert "File the city care service list" in shown and "within 10 days of its issue" in shown
    assert "关爱服务清单报送省民政厅备案" not in shown and chinese_by_english(letter) == []
    pdf = reader.get(f"/tasks/{filing}/letter.pdf")
    assert pdf.status_code == 200 and f'filename="{filing.hex[:8]}.pdf"' in pdf.headers["content-disposition"]
    pdf_text = " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert "Duty notice" in pdf_text and "Referral notice" not in pdf_text and "Case reference" not in pdf_text
    assert "报送省民政厅备案" not in pdf_text.replace(" ", "")
