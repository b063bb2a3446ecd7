"""The referral letter (转介通知单; a dated duty's, with no case: 工作任务通知单) as an A4 PDF: the same content as the
printable page (``templates/pages/task_letter.html``), for a unit that files or forwards it as a document (issue 12).

Drawn with ReportLab's platypus. Chinese is set in a TrueType font embedded in the file (a subset), so that every
viewer shows it: ``CAREFLOW_PDF_FONT`` (a .ttf or .ttc path) or the first of :data:`FONT_FILES` found (Debian's
fonts-wqy-microhei); without one, the CID font STSong-Light, which Adobe's readers carry but some phone viewers do
not. Text is escaped for ReportLab's paragraph markup.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from web.i18n import Translator

#: TrueType fonts with Chinese, looked for in this order when ``CAREFLOW_PDF_FONT`` is not set.
FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
              "/usr/share/fonts/truetype/arphic/uming.ttc")


def _register_font() -> str:
    """The name of the font registered for letters: an embedded TrueType font when one is found, else STSong-Light."""
    for path in filter(None, (os.environ.get("CAREFLOW_PDF_FONT"), *FONT_FILES)):
        if os.path.isfile(path):
            try:
                pdfmetrics.registerFont(TTFont("careflow-cjk", path, subfontIndex=0))
                return "careflow-cjk"
            except Exception:  # noqa: BLE001 (a font ReportLab cannot read: try the next, then the CID font)
                continue
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


FONT = _register_font()
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=15, wordWrap="CJK")
_HEAD = ParagraphStyle("head", parent=_BODY, fontSize=18, leading=24, alignment=1, spaceAfter=4 * mm)
_H2 = ParagraphStyle("h2", parent=_BODY, fontSize=12.5, leading=18, spaceBefore=5 * mm, spaceAfter=2 * mm)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=9, leading=13, textColor=colors.HexColor("#444444"))


def _p(text: object, style: ParagraphStyle = _BODY) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _table(rows: list[tuple[str, object]], *, tall: bool = False) -> Table:
    table = Table([[_p(k), _p(v)] for k, v in rows], colWidths=[38 * mm, 132 * mm],
                  rowHeights=[11 * mm] * len(rows) if tall else None)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
    ]))
    return table


def letter_pdf(task, *, issuer: str, printed_at: str, t: Translator, local_time: Callable) -> bytes:
    """The letter of ``task`` (a :class:`web.outputs.TaskOut` with its ``facts``, as the letter page gets it) as
    PDF bytes, A4 portrait, in the language of ``t`` (the page's translator). A dated duty (no case reference) is
    titled 工作任务通知单 and names no case, as the page does."""
    title = t("task.letter_title") if task.case_reference else t("task.duty_letter_title")
    rows = [(t("task.letter_from"), issuer)] if issuer else []
    rows += [(t("task.unit"), task.unit_name), (t("task.step"), task.step_title),
             (t("task.instructions"), task.instructions)]
    if task.ack_due_at:
        rows.append((t("task.ack_due"), local_time(task.ack_due_at)))
    start = t.comma + t("task.deadline_for_start") if task.deadline_for == "start" else ""
    due = task.due_local + t.paren(task.deadline_text + start)
    rows.append((t("task.due"), due + (t.paren(t("task.provisional")) if task.due_provisional else "")))
    colon, gap = t.colon, t.gap  # the language's punctuation, as on the letter's page (web.i18n.Translator)
    case = f"{t('case.reference')}{colon}{task.case_reference}{gap}" if task.case_reference else ""
    story = [_p(title, _HEAD),
             _p(f"{case}{t('field.task_id')}{colon}{task.short_ref}{gap}{t('task.letter_issued')}{colon}{printed_at}",
                _SMALL), Spacer(1, 3 * mm), _table(rows)]
    facts = task.facts
    if facts:
        fact_rows = [(row.label, row.value) for row in facts.items]
        if facts.shows_guardians:
            guardians = [f"{g.full_name}{t.paren(g.relation) if g.relation else ''} {g.phone or t('fact.no_phone')}"
                         for g in facts.guardians]
            fact_rows.append((t("fact.guardians"), "\n".join(guardians) or t("common.none")))
        fact_rows.append((t("fact.caseworker"), f"{facts.caseworker.name} "
                                                f"{facts.caseworker.phone or t('fact.no_phone')}"))
        for answer in facts.answers:
            fact_rows.append((answer.step_title, f"{answer.unit_name} · {local_time(answer.answered_at)}\n"
                              + t.semicolon.join(f"{r.label}{colon}{r.value}" for r in answer.items)))
        story += [_p(t("fact.title"), _H2), _table(fact_rows)]
    receipt = [(t("task.letter_signer"), ""), (t("task.letter_date"), "")]
    receipt += [(field.label, "") for field in task.outcome_fields]
    story += [_p(t("task.letter_receipt"), _H2), _table(receipt, tall=True), Spacer(1, 3 * mm)]
    if task.case_reference:  # a dated duty's letter carries no child: no note about a child's personal data
        story.append(_p(t("task.letter_note"), _SMALL))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                      bottomMargin=18 * mm, title=f"{title} {task.case_reference}".strip(),
                      author="careflow").build(story)
    return buffer.getvalue()
