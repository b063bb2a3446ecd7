"""Chinese by default, English on request: ``?lang=en`` (remembered in a cookie) or the ``careflow_lang`` cookie.

:data:`MESSAGES` maps a key to its (Chinese, English) text; :class:`Translator` looks keys up and picks the
``_zh``/``_en`` variant of policy texts (step titles, instructions, outcome labels).
"""
from __future__ import annotations

from starlette.requests import Request

from web.security import LANG_COOKIE

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("流动儿童关爱保护 · careflow", "Migrant children's care · careflow"),
    "nav.cases": ("个案", "Cases"),
    "nav.children": ("儿童", "Children"),
    "nav.register": ("登记儿童", "Register a child"),
    "nav.inbox": ("待办任务", "Inbox"),
    "nav.dashboard": ("督办看板", "Dashboard"),
    "nav.users": ("用户", "Users"),
    "nav.units": ("承办单位", "Agency units"),
    "nav.account": ("我的账户", "My account"),
    "nav.logout": ("退出", "Sign out"),
    "nav.language": ("English", "中文"),
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误。", "Wrong user name or password."),
    "error.title": ("无法打开", "Not available"),
    "error.404": ("没有找到，或您无权查看。", "Not found, or not yours to see."),
    "error.403": ("您的角色不能使用此页面。", "Your role may not use this page."),
    "error.csrf": ("表单已过期，请返回刷新后重试。", "The form has expired: go back, reload and try again."),
    "error.back": ("返回首页", "Back to the start page"),
    "role.caseworker": ("儿童主任/督导员", "Caseworker"),
    "role.agency_officer": ("承办单位工作人员", "Agency officer"),
    "role.manager": ("管理人员", "Manager"),
    "role.admin": ("系统管理员", "Administrator"),
    "common.save": ("保存", "Save"),
    "common.yes": ("是", "yes"),
    "common.no": ("否", "no"),
    "common.none": ("无", "none"),
    "common.required": ("必填", "required"),
    "common.optional": ("选填", "optional"),
    "common.actions": ("操作", "Actions"),
    "common.status": ("状态", "Status"),
    "common.open": ("办理中", "open"),
    "common.closed": ("已结案", "closed"),
    "common.view": ("查看", "View"),
    "common.errors": ("请更正：", "Please correct:"),
    "common.as_of": ("截至", "As of"),
    "common.total": ("合计", "Total"),
    "common.name": ("名称", "Name"),
    "common.code": ("代码", "Code"),
    "common.empty": ("暂无。", "Nothing yet."),
    "child.list_title": ("本辖区登记儿童", "Children registered in my area"),
    "child.name": ("姓名", "Name"),
    "child.resident_id": ("身份证号", "Resident ID"),
    "child.resident_id_masked": ("身份证号（已遮挡）", "Resident ID (masked)"),
    "child.reveal_id": ("显示完整身份证号（将记录审计）", "Show the full ID (audited)"),
    "child.sex": ("性别", "Sex"),
    "child.sex_m": ("男", "male"),
    "child.sex_f": ("女", "female"),
    "child.birth_date": ("出生日期", "Date of birth"),
    "child.hukou": ("户籍地（县）", "Household registration (county)"),
    "child.residence": ("居住地（县）", "Residence (county)"),
    "child.area": ("居住地乡镇/村（居）代码", "Residence township/village code"),
    "child.address": ("居住地址", "Address"),
    "child.arrival": ("来到居住地日期", "Date of arrival"),
    "child.key_care": ("重点关爱情形", "Key care grounds"),
    "child.guardian": ("监护人", "Guardian"),
    "child.guardian_name": ("监护人姓名", "Guardian's name"),
    "child.guardian_relation": ("关系", "Relation"),
    "child.guardian_phone": ("电话", "Phone"),
    "child.register_title": ("登记流动儿童", "Register a migrant child"),
    "child.register_submit": ("登记并判定", "Register and assess"),
    "child.hint_county": ("县级代码或名称，如 350302 或 城厢区", "County code or name, e.g. 350302 or 城厢区"),
    "child.record_title": ("儿童档案", "Child's record"),
    "child.registered": ("已登记。", "Registered."),
    "child.assessment": ("流动儿童认定（方案 一）", "Migrant-child test (plan, section 一)"),
    "child.is_migrant": ("属于流动儿童", "A migrant child"),
    "child.not_migrant": ("不属于流动儿童", "Not a migrant child"),
    "child.cases": ("个案", "Cases"),
    "report.title": ("记录报告（立案）", "Record a report (open a case)"),
    "report.summary": ("报告内容", "What was reported"),
    "report.reported_by": ("报告人", "Reported by"),
    "report.mandatory": ("强制报告责任主体报告", "Reported by a mandatory reporter"),
    "report.submit": ("记录报告并立案", "Record the report and open a case"),
    "case.list_title": ("本辖区个案", "Cases in my area"),
    "case.reference": ("个案编号", "Case reference"),
    "case.opened": ("立案时间", "Opened"),
    "case.closed_at": ("结案时间", "Closed"),
    "case.caseworker": ("责任人", "Caseworker"),
    "case.summary": ("情况", "Summary"),
    "case.timeline": ("办理时间线", "Timeline"),
    "case.pathways": ("转介路径", "Pathways"),
    "case.start_pathway": ("启动转介路径", "Start a pathway"),
    "case.child": ("儿童", "Child"),
    "case.open_cases": ("办理中", "Open"),
    "case.all": ("全部", "All"),
    "pathway.start_title": ("启动转介路径", "Start a pathway"),
    "pathway.start_submit": ("启动", "Start"),
    "pathway.started": ("路径已启动，第一个承办单位已收到通知。",
                        "Pathway started: the first agency has been notified."),
    "pathway.start_pending": ("路径已记录，但流程暂未启动，系统稍后自动重试。",
                              "Pathway recorded; its flow could not start now and will be started automatically."),
    "pathway.not_available": ("尚无流程", "no flow yet"),
    "pathway.flow_run": ("流程运行", "Flow run"),
    "pathway.status.starting": ("启动中", "starting"),
    "pathway.status.running": ("办理中", "running"),
    "pathway.status.completed": ("已完成", "completed"),
    "pathway.status.failed": ("受阻", "blocked"),
    "pathway.status.cancelled": ("已撤销", "cancelled"),
    "pathway.current": ("当前环节", "Current step"),
    "task.step": ("环节", "Step"),
    "task.unit": ("承办单位", "Agency unit"),
    "task.requested": ("发起", "Requested"),
    "task.due": ("办理时限", "Deadline"),
    "task.ack_due": ("签收时限", "Acknowledge by"),
    "task.rule": ("时限规则", "Time limit"),
    "task.deadline_for_start": ("须在时限内开始办理", "must start within the deadline"),
    "task.provisional": ("暂定", "provisional"),
    "task.overdue": ("逾期", "OVERDUE"),
    "task.ack_overdue": ("签收超时", "ack overdue"),
    "task.state": ("状态", "State"),
    "task.answer": ("答复", "Answer"),
    "task.answered_by": ("答复人", "Answered by"),
    "task.on_time": ("按时", "on time"),
    "task.late": ("逾期", "late"),
    "task.attempt": ("第{n}次", "attempt {n}"),
    "task.instructions": ("办理要求", "What to do"),
    "task.note": ("说明", "Note"),
    "task.outcome": ("办理结果", "Outcome"),
    "task.acknowledge": ("签收", "Acknowledge"),
    "task.reject": ("退回", "Reject"),
    "task.reject_reason": ("退回原因", "Reason for rejecting"),
    "task.complete": ("办结并提交结果", "Complete with this outcome"),
    "task.inbox_title": ("待办任务", "Open tasks"),
    "task.answered_title": ("近期已答复", "Recently answered"),
    "task.privacy": ("按最小必要原则，此处仅显示个案编号，不显示儿童姓名和身份证号。",
                     "Only the case reference is shown here, never the child's name or ID number (need to know)."),
    "task.done.acknowledged": ("已签收。", "Acknowledged."),
    "task.done.completed": ("已办结，路径已继续。", "Completed: the pathway has moved on."),
    "task.done.contact_recorded": ("已办结：本次联系已记录，下一次联系或走访任务已生成。",
                                   "Completed: the contact is recorded and the next one is scheduled."),
    "task.done.duty_completed": ("已办结。", "Completed."),
    "task.done.rejected": ("已退回，已通知责任人和县级民政部门。",
                           "Rejected: the caseworker and the county have been told."),
    "task.done.pending": ("答复已保存，路径稍后自动继续。", "Answer stored; the pathway will move on shortly."),
    "state.requested": ("待签收", "requested"),
    "state.acknowledged": ("已签收", "acknowledged"),
    "state.in_progress": ("办理中", "in progress"),
    "state.completed": ("已办结", "completed"),
    "state.rejected": ("已退回", "rejected"),
    "state.cancelled": ("已撤销", "cancelled"),
    "state.expired": ("已过期", "expired"),
    "dash.title": ("督办看板", "Dashboard"),
    "dash.area": ("辖区", "Area"),
    "dash.by_county": ("按县（市、区）", "By county"),
    "dash.by_unit": ("按承办单位", "By agency unit"),
    "dash.open": ("办理中", "Open"),
    "dash.overdue": ("逾期", "Overdue"),
    "dash.median_ack": ("签收用时中位数", "Median time to acknowledge"),
    "dash.median_complete": ("办结用时中位数", "Median time to complete"),
    "dash.on_time_share": ("按时办结率", "Done on time"),
    "dash.on_time_note": ("按时办结率 = 按时办结的任务 ÷（已办结任务 + 已逾期未办结任务）",
                          "Done on time = tasks completed by their deadline ÷ (completed tasks + open tasks past it)"),
    "dash.escalations": ("督办记录", "Escalations"),
    "dash.rung": ("督办级别", "Rung"),
    "dash.fired": ("时间", "Fired"),
    "dash.pathways": ("路径进展", "Pathways"),
    "dash.export_csv": ("导出 CSV", "Export CSV"),
    "dash.export_xlsx": ("导出 Excel", "Export Excel"),
    "dash.chart_units": ("各承办单位办理中/逾期任务", "Open and overdue tasks per agency unit"),
    "dash.chart_on_time": ("各县按时办结率", "Share done on time per county"),
    "dash.hours": ("小时", "h"),
    "dash.apply": ("切换", "Show"),
    "rung.reminder": ("到期提醒", "reminder"),
    "rung.ack_overdue": ("签收超时", "acknowledgement overdue"),
    "rung.deadline": ("到期未办结", "deadline reached"),
    "rung.overdue": ("逾期督办", "overdue"),
    "admin.users": ("用户管理", "Users"),
    "admin.new_user": ("新建用户", "New user"),
    "admin.edit_user": ("编辑用户", "Edit user"),
    "admin.username": ("用户名", "User name"),
    "admin.display_name": ("姓名", "Display name"),
    "admin.role": ("角色", "Role"),
    "admin.jurisdiction": ("辖区代码", "Jurisdiction code"),
    "admin.jurisdiction_hint": ("儿童主任：乡镇（9位）或县（6位）；管理人员：县、市或省（6位）",
                                "Caseworker: township (9 digits) or county (6); manager: county, city or province (6)"),
    "admin.unit": ("承办单位", "Agency unit"),
    "admin.active": ("启用", "Active"),
    "admin.password": ("密码（至少10位）", "Password (10 characters or more)"),
    "admin.new_password": ("新密码（留空则不变）", "New password (leave empty to keep)"),
    "admin.units": ("承办单位管理", "Agency units"),
    "admin.new_unit": ("新建承办单位", "New agency unit"),
    "admin.edit_unit": ("编辑承办单位", "Edit agency unit"),
    "admin.agency_type": ("部门类型", "Agency type"),
    "admin.saved": ("已保存。", "Saved."),
    "account.title": ("我的账户", "My account"),
    "account.password": ("修改密码", "Change password"),
    "account.current_password": ("当前密码", "Current password"),
    "account.new_password": ("新密码（至少10位）", "New password (10 characters or more)"),
    "account.password_changed": ("密码已修改，请重新登录。", "Password changed: sign in again."),
    "account.tokens": ("API 令牌", "API tokens"),
    "account.token_name": ("令牌用途", "What the token is for"),
    "account.create_token": ("生成令牌", "Create a token"),
    "account.token_once": ("请立即复制，此令牌只显示一次：", "Copy it now, it is shown only once:"),
    "account.revoke": ("吊销", "Revoke"),
    "account.revoked": ("已吊销", "revoked"),
    "account.api_doc": ("接口文档", "API documentation"),
}


def pick_language(request: Request) -> str:
    """``?lang=`` if it names a language, else the cookie, else Chinese."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE, "")
    return remembered if remembered in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """Text in one language: ``t("key")``, ``t("task.attempt", n=2)``, ``t.pick(step, "title")``."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._index = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **values) -> str:
        pair = MESSAGES.get(key)
        text = pair[self._index] if pair else key
        return text.format(**values) if values else text

    def pick(self, obj, field: str) -> str:
        """``obj.<field>_zh`` or ``obj.<field>_en`` (falling back to the Chinese text)."""
        value = getattr(obj, f"{field}_{self.lang}", None)
        return value if value else getattr(obj, f"{field}_zh", "")

    def state(self, value) -> str:
        return self(f"state.{getattr(value, 'value', value)}")

    def pathway_status(self, value) -> str:
        return self(f"pathway.status.{getattr(value, 'value', value)}")

    def yes_no(self, value) -> str:
        if isinstance(value, bool):
            return self("common.yes") if value else self("common.no")
        return str(value)
