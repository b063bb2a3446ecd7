"""What a Chinese page must never show (issue 12): raw enumerated values, catalogue keys, English validation
messages and English prose. Used by the page tests (``test_chinese_first``) and by every browser test's screenshots
(:class:`tests.web.browser.Shots`)."""
from __future__ import annotations

import functools
import html
import re

from core.i18n import catalogue
from models.case import CaseStatus, PathwayStatus
from models.eligibility import KeyCareCriterion
from models.policy import load_policy
from models.task import TaskState
from models.user import UserRole
from notifications.render import ALL_EVENTS

#: Every stored value a person must never read raw on a Chinese page.
RAW_VALUES = sorted(
    {s.value for s in TaskState} | {s.value for s in PathwayStatus} | {s.value for s in CaseStatus}
    | {r.value for r in UserRole} | {c.value for c in KeyCareCriterion}
    | {o for p in load_policy().pathways.values() for s in p.steps for f in s.outcome for o in f.options}
    | {o for p in load_policy().pathways.values() for f in p.start_parameters for o in f.options}
    | {"True", "False", "None", "yes", "no", "reminder", "ack_overdue", "deadline", "overdue"}
    | set(ALL_EVENTS) | set(load_policy().pathways)  # message events; pathways (step keys are their data-step)
    | {s.key for p in load_policy().pathways.values() for s in p.steps}
)
#: pydantic's and careflow's English error wording, and internal field paths.
ENGLISH_ERRORS = ["Field required", "String should", "Input should", "Value error", "value is not",
                  "must not be empty", "field '", "is not a valid", "guardians.0", "outcome.", "parameters."]
#: A whole word: not inside a longer ASCII word, code or path (a Chinese character next to it does not hide it).
WORD = r"(?<![A-Za-z0-9_.\-/]){}(?![A-Za-z0-9_.\-/])"
#: Five or more English words in a row: a sentence a Chinese reader was not meant to get (a developer's note).
ENGLISH_PROSE = re.compile(r"[A-Za-z]{2,}(?:[ ,;:'’()\-]+[A-Za-z]{2,}){4,}")
#: On an English page, Chinese punctuation or a Chinese word against English (``provisional）``, ``review；Done``,
#: ``Item 3（``, ``rows条``): written by a template or the code, not typed by a person (names stand apart). An English
#: word has a letter beyond a-f: test data named 需求8bbeb乙 (a hex suffix) is no English word.
CHINESE_BY_ENGLISH = re.compile(r"[A-Za-z0-9)][ \t]?[；、（），。　：]|[；、（），。　：][ \t]?[A-Za-z]"
                                r"|(?<![A-Za-z0-9])[A-Za-z]*[g-zG-Z][A-Za-z]*[\u4e00-\u9fff]"
                                r"|[\u4e00-\u9fff][A-Za-z]*[g-zG-Z][A-Za-z]*(?![A-Za-z0-9])")


def visible_text(page: str) -> str:
    """What a person reads: the page without scripts, styles, tags and attributes, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@functools.lru_cache(maxsize=4)
def any_word(words: tuple[str, ...]) -> re.Pattern:
    """One pattern for whole occurrences of any of ``words`` (longest first): one scan of a page, not one a word."""
    return re.compile(WORD.format("(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"))


def leaks(page: str) -> list[str]:
    """Raw enumerated values, catalogue keys and English error text found in a page's visible text."""
    text = visible_text(page)
    found = sorted(set(any_word(tuple(RAW_VALUES)).findall(text)))
    found += sorted(set(any_word(tuple(catalogue("zh"))).findall(text)))
    found += [e for e in ENGLISH_ERRORS if e in text]
    found += ENGLISH_PROSE.findall(text)
    return found


#: Chinese only, from careflow's layers below the web (left for their own change): the eligibility rules' reasons
#: (models.eligibility_rules) and the titles of key care duties and assessments, stored with their tasks
#: (careflow.survey.duty_calendar, careflow.key_care). The English walk holds the rest of each page to the language.
CHINESE_ONLY = re.compile(r'<ul class="reasons">.*?</ul>|<p class="migrant-check">.*?</p>'
                          r"|(?:重点关爱儿童(?:每月联系|入户走访)|困境儿童家庭监护评估)（[^）]*）", re.S)


def chinese_by_english(page: str) -> list[str]:
    """Where an English page's visible text has Chinese punctuation or words against English ones, with context."""
    text = visible_text(CHINESE_ONLY.sub(" ", page))
    return [text[max(m.start() - 20, 0):m.end() + 10].strip() for m in CHINESE_BY_ENGLISH.finditer(text)]
