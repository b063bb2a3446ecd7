"""What a new user found on the forms: a guardian's phone of letters was stored, a form named only its first wrong
field, a negative seat count was "not an integer", two required county fields did not say 必填, and an ID whose
birth date is still to come was "invalid" without saying why. Each is said in Chinese (English on request), naming
the field and the value."""
from __future__ import annotations

import datetime as dt
import re

import pendulum

from tests.factories import make_resident_id
from tests.web.chinese import visible_text
from tests.web.conftest import WEB_ID_SPACE
from tests.web.test_chinese_first import answered  # noqa: F401 - the fixture: a committee task to answer

ITEM = 19  # 城市融入服务, as tests/web/test_programme_pages.py


def _register_form(client, **fields) -> dict:
    base = {"full_name": "表单检查", "resident_id": make_resident_id(*WEB_ID_SPACE["walk"]), "hukou_county": "511321",
            "residence_county": "350302", "residence_area_code": "350302001001", "arrival_date": "2023-08-20",
            "csrf_token": client.csrf}
    return {**base, **fields}


def _english(client, method: str, url: str, **kwargs):
    """The response to ``url`` in English; the client's language is set back to Chinese afterwards."""
    try:
        return client.request(method, url + ("&" if "?" in url else "?") + "lang=en", **kwargs)
    finally:
        client.get("/account?lang=zh")


def test_a_guardians_phone_of_letters_is_refused_naming_the_field_and_the_value(clients, world):
    client = clients["cw_a1"]
    form = _register_form(client, guardian_name="李大山", guardian_relation="父亲", guardian_phone="abc")
    refused = client.post("/children", data=form)
    assert refused.status_code == 400
    text = visible_text(refused.text)
    assert "监护人电话：“abc”不是电话号码：请填写 11 位手机号（以 1 开头）或带区号的固定电话" in text, text[-800:]
    assert re.search(r'name="guardian_phone" aria-invalid="true"', refused.text)
    english = visible_text(_english(client, "POST", "/children", data=form).text)
    assert "Guardian's phone: “abc” is not a phone number: give an 11-digit mobile number" in english
    # the API refuses it alike
    headers = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    body = {"resident_id": make_resident_id(*WEB_ID_SPACE["walk"]), "full_name": "表单检查", "hukou_county": "511321",
            "residence_county": "350302", "residence_area_code": "350302001001", "arrival_date": "2023-08-20",
            "guardians": [{"full_name": "李大山", "relation": "父亲", "phone": "abc"}]}
    api = client.post("/api/children", headers=headers, json=body)
    assert api.status_code == 422
    (problem,) = api.json()["detail"]
    assert problem["field"] == "监护人电话" and problem["message"].startswith("“abc”不是电话号码"), problem
    # a mobile number with spaces and a landline with its area code are phone numbers
    for phone in ("138 0000 0000", "(0594) 228-8123"):
        good = {**body, "resident_id": make_resident_id(*WEB_ID_SPACE["walk"]),
                "guardians": [{"full_name": "李大山", "relation": "父亲", "phone": phone}]}
        assert client.post("/api/children", headers=headers, json=good).status_code == 201, phone


def test_an_empty_answer_names_every_required_field_at_once(clients, answered):  # noqa: F811
    client = clients["off_vc_a1"]
    task_id = answered["tasks"]["committee_admonition"]
    refused = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": client.csrf})
    assert refused.status_code == 400
    text = visible_text(refused.text)
    assert "情节严重：请填写" in text and "儿童处于危险之中：请填写" in text, text[-800:]
    for name in ("o_serious", "o_child_in_danger"):  # each field marked, its message beside it
        assert re.search(rf'name="{name}" aria-invalid="true" aria-describedby="error-{name}"', refused.text), name
        assert f'id="error-{name}"' in refused.text
    english = visible_text(_english(client, "POST", f"/tasks/{task_id}/complete",
                                    data={"csrf_token": client.csrf}).text)
    assert "Serious: required" in english and "Child in danger: required" in english, english[-800:]


def test_a_programme_form_names_every_wrong_field_at_once(web_app, clients):
    officer = clients["off_police_a"]
    form = {"csrf_token": officer.csrf, "item": str(ITEM), "title": "", "starts_at": "五一", "place": "",
            "county": "350302", "capacity": "-3"}
    refused = officer.post("/programmes", data=form)
    assert refused.status_code == 400
    text = visible_text(refused.text)
    for said in ("可邀请人数：“-3”须为正整数", "活动时间：“五一”不是日期时间", "活动名称：", "活动地点："):
        assert said in text, (said, text[-1000:])
    for name in ("title", "starts_at", "place", "capacity"):
        assert re.search(rf'name="{name}" aria-invalid="true"', refused.text), name


def test_a_negative_or_zero_seat_count_must_be_a_positive_whole_number(web_app, clients):
    officer = clients["off_police_a"]
    form = {"csrf_token": officer.csrf, "item": str(ITEM), "title": "探索日", "starts_at": "2099-05-01T09:30",
            "place": "城厢区图书馆", "county": "350302", "capacity": "-3"}
    refused = officer.post("/programmes", data=form)
    assert refused.status_code == 400
    text = visible_text(refused.text)
    assert "可邀请人数：“-3”须为正整数" in text and "不是整数" not in text
    assert "可邀请人数：“0”须为正整数" in visible_text(officer.post("/programmes", data={**form, "capacity": "0"}).text)
    english = visible_text(_english(officer, "POST", "/programmes", data=form).text)
    assert "Seats for invited children: “-3” must be a positive whole number" in english


def test_every_required_field_of_the_registration_form_says_so(clients):
    page = clients["cw_a1"].get("/children/new")
    assert page.status_code == 200
    labels = re.findall(r"<label>(.*?)</label>", page.text, flags=re.S)
    required = [label for label in labels if re.search(r"<(input|select|textarea)\b[^>]*\brequired\b", label)]
    names = {re.search(r'name="([a-z_]+)"', label).group(1) for label in required}
    assert {"hukou_county", "residence_county", "full_name", "resident_id", "arrival_date"} <= names
    for label in required:
        assert "<small>必填</small>" in label, label
    programme = clients["off_police_a"].get("/programmes/new")
    for label in re.findall(r"<label>(.*?)</label>", programme.text, flags=re.S):
        if re.search(r"<(input|select|textarea)\b[^>]*\brequired\b", label):
            assert "<small>必填</small>" in label, label


def test_an_id_born_after_today_says_so_with_both_dates(clients):
    client = clients["cw_a1"]
    today = pendulum.now("Asia/Shanghai").date()
    born = today + dt.timedelta(days=400)
    resident_id = make_resident_id("350302", born)
    form = _register_form(client, resident_id=resident_id)
    refused = client.post("/children", data=form)
    assert refused.status_code == 400
    text = visible_text(refused.text)
    assert (f"身份证号：「{resident_id}」身份证号中的出生日期 {born.isoformat()} 晚于今天 {today.isoformat()}"
            in text), text[-800:]
    assert "出生日期无效" not in text
    english = visible_text(_english(client, "POST", "/children", data=form).text)
    assert (f"the birth date in the ID number, {born.isoformat()}, is later than today, {today.isoformat()}"
            in english), english[-800:]
