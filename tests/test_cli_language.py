"""The command line speaks Chinese by default and English with ``CAREFLOW_LANG=en``: every help text (the groups', the
commands', their arguments' and options', typer's own words) and what the commands print come from the
catalogues' ``cli.*`` keys, which both catalogues hold with the same ``{fields}``.

Help texts are fixed when the commands are declared (at import), so English help is read from a new process.
"""
from __future__ import annotations

import os
import re
import string
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from core.i18n import catalogue, cli_language
from core.paths import PROJECT_ROOT
from entry.cli import app

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: Two English words in a row: a sentence, not a name. Option names, placeholders (<str>, [x>=1], {file}) and
#: names in capitals (OPTIONS, CAREFLOW_HOME) are taken out first.
ENGLISH_WORDS = re.compile(r"\b[A-Za-z]{2,}[,;:]? [a-z]{2,}\b")
NAMES = re.compile(r"<[^>]*>|\[[^\]]*\]|\{[^}]*\}|--?[\w-]+|\b[A-Z][A-Z_]+\b")


def _commands(command=None, path=()):
    """Every group's and command's path below ``careflow``: ``()``, ``("task",)``, ``("task", "list")`` …"""
    command = command or typer.main.get_command(app)
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _english_lines(text: str) -> list[str]:
    lines = [line.strip("│╭╮╰╯─ ") for line in text.splitlines()]
    return [line for line in lines if not CJK.search(line) and ENGLISH_WORDS.search(NAMES.sub(" ", line))]


def test_every_command_line_key_is_in_both_catalogues_with_the_same_fields():
    fields = {lang: {key: {f for _, f, _, _ in string.Formatter().parse(text) if f}
                     for key, text in catalogue(lang).items() if key.startswith("cli.")} for lang in ("zh", "en")}
    assert sorted(set(fields["zh"]) ^ set(fields["en"])) == []
    assert [key for key in fields["zh"] if fields["zh"][key] != fields["en"][key]] == []
    assert len(fields["zh"]) > 250
    # msgfmt --check refuses a msgstr that ends (or starts) with a newline its msgid does not
    assert [key for lang in ("zh", "en") for key, text in catalogue(lang).items()
            if key.startswith("cli.") and (text.endswith("\n") or text.startswith("\n"))] == []


def test_every_help_page_is_chinese():
    assert cli_language() == "zh", "run the test suite without CAREFLOW_LANG"
    runner, pages = CliRunner(), list(_commands())
    assert ("task", "list") in pages and ("survey", "import") in pages and ("sweep",) in pages
    for path in pages:
        result = runner.invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "用法：" in result.output and "选项" in result.output, path
        assert _english_lines(result.output) == [], path
    top = runner.invoke(app, ["--help"], terminal_width=100).output
    assert "CAREFLOW_LANG=en" in top and "显示本帮助并退出" in top


def _english(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entry.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_ROOT, env={**os.environ, "CAREFLOW_LANG": "en", "COLUMNS": "100", **env})


#: Every help page, printed by a new process (help texts are read at import).
_ALL_HELP = """
from typer.testing import CliRunner
from entry.cli import app
from tests.test_cli_language import _commands
for path in _commands():
    print("=====", " ".join(path))
    print(CliRunner().invoke(app, [*path, "--help"]).output)
"""


def test_with_careflow_lang_en_every_help_page_is_english():
    top = _english("--help")
    assert top.returncode == 0, top.stderr
    assert "set the environment variable CAREFLOW_LANG=en for English" in " ".join(top.stdout.split())
    assert CJK.search(top.stdout) is None, top.stdout
    done = subprocess.run([sys.executable, "-c", _ALL_HELP], capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_ROOT, env={**os.environ, "CAREFLOW_LANG": "en"})
    assert done.returncode == 0, done.stderr
    pages = done.stdout.split("=====")[1:]
    assert len(pages) > 40 and all("Usage: " in page and "Show this message and exit." in page for page in pages)
    # Chinese only where it is a value to type (ruling=驳回申请) or the README's section name
    assert [line for line in done.stdout.splitlines()
            if CJK.search(line) and "ruling=驳回申请" not in line and "README 节假日安排" not in line] == []


def test_a_typing_mistake_is_chinese_and_english_on_request():
    chinese = CliRunner().invoke(app, ["task", "list"])
    assert chinese.exit_code == 2 and "缺少选项 '--unit'" in chinese.output
    english = _english("task", "list")
    assert english.returncode == 2 and "Missing option '--unit'" in english.stderr


@pytest.fixture
def english(monkeypatch):
    """What a command prints with ``CAREFLOW_LANG=en`` (printed lines are read when printed, not at import)."""
    monkeypatch.setenv("CAREFLOW_LANG", "en")
    cli_language.cache_clear()
    yield
    monkeypatch.delenv("CAREFLOW_LANG")
    cli_language.cache_clear()


def test_a_command_prints_chinese(database_url):
    unknown = CliRunner().invoke(app, ["task", "list", "--unit", "no-such-unit"])
    assert unknown.exit_code == 2
    assert "错误：字段 'unit'：没有承办单位 'no-such-unit'（单位名录见 policy/agency_units.yaml）" in unknown.output
    demo = CliRunner().invoke(app, ["demo", "--pathway", "no-such-pathway"])
    assert demo.exit_code == 2 and "错误：没有路径 'no-such-pathway' 的演示；可演示的路径：guardianship" in demo.output


def test_a_command_prints_english_on_request(database_url, english):
    unknown = CliRunner().invoke(app, ["task", "list", "--unit", "no-such-unit"])
    assert unknown.exit_code == 2
    assert "error: field 'unit': no agency unit 'no-such-unit' (the directory: policy/agency_units.yaml)" \
        in unknown.output
    demo = CliRunner().invoke(app, ["demo", "--pathway", "no-such-pathway"])
    assert demo.exit_code == 2 and "error: no demo for pathway 'no-such-pathway'; available: guardianship" \
        in demo.output


def test_a_figure_line_reads_its_names_in_the_language(english):
    from entry.user_input import counts_text

    assert counts_text({"sent": 2, "failed": 0, "refreshed": True}) == "sent 2, failed 0, refreshed yes"
    cli_language.cache_clear()
    os.environ.pop("CAREFLOW_LANG")
    assert counts_text({"sent": 2, "failed": 0, "refreshed": True}) == "已发送 2，发送失败 0，已刷新 是"
    assert counts_text({}) == "无"
    os.environ["CAREFLOW_LANG"] = "en"


@pytest.mark.parametrize("value, lang", [("en", "en"), ("EN", "en"), ("en_US.UTF-8", "en"), ("zh_CN.UTF-8", "zh"),
                                         ("fr", "zh"), ("", "zh")])
def test_careflow_lang_is_read_as_a_language(monkeypatch, value, lang):
    monkeypatch.setenv("CAREFLOW_LANG", value)
    cli_language.cache_clear()
    try:
        assert cli_language() == lang
    finally:
        monkeypatch.delenv("CAREFLOW_LANG")
        cli_language.cache_clear()


#: Typing mistakes on the common commands: click's and typer's own usage errors and typer's pydantic checks of a
#: value, each with what a Chinese and an English reader see.
USAGE_MISTAKES = [
    (["case", "start"], "没有命令 'start'。", "No such command 'start'."),
    (["case", "opn"], "没有命令 'opn'。您是不是要输入 'open'？", "No such command 'opn'. Did you mean 'open'?"),
    (["task", "complete"], "缺少参数 'ref'。", "Missing argument 'ref'."),
    (["task", "complete", "abcd", "--outcome"], "选项 '--outcome' 后面缺少取值。",
     "Option '--outcome' requires a value."),
    (["task", "list", "--unit", "u", "--limit", "x"], "'--limit' 的值无效：'x' 不是整数",
     "Invalid value for '--limit': 'x' is not a whole number"),
    (["task", "list", "--unit", "u", "--limit", "0"], "'--limit' 的值无效：0 小于最小值 1",
     "Invalid value for '--limit': 0 is less than the minimum, 1"),
    (["task", "list", "--unit", "u", "--limit", "5000"], "'--limit' 的值无效：5000 大于最大值 1000",
     "Invalid value for '--limit': 5000 is more than the maximum, 1000"),
    (["task", "list", "--unit", "u", "--follow=yes"], "选项 '--follow' 是开关，不取值（只写 '--follow'）。",
     "Option '--follow' is a switch and takes no value (write just '--follow')."),
    (["survey", "import", "f.csv", "--county", "x", "--round", "2026-10", "--show", "abc"],
     "'--show' 的值无效：'abc' 不是整数", "Invalid value for '--show': 'abc' is not a whole number"),
    (["survey", "import"], "缺少参数 'file'。", "Missing argument 'file'."),
    (["survey", "duties", "--unit"], "选项 '--unit' 后面缺少取值。", "Option '--unit' requires a value."),
    (["survey", "duties", "--days", "x"], "'--days' 的值无效：'x' 不是整数",
     "Invalid value for '--days': 'x' is not a whole number"),
    (["survey", "duties", "extra"], "多出的参数：extra（含空格的值请加引号）",
     "Unexpected extra argument(s): extra (quote a value that holds spaces)"),
    (["survey", "dutie"], "没有命令 'dutie'。您是不是要输入 'duties'？", "No such command 'dutie'. Did you mean 'duties'?"),
]


def _panel(output: str) -> str:
    """The error panel's message as one line (rich wraps it at the panel's width)."""
    return " ".join(line.strip("│╭╮╰╯─ ") for line in output.splitlines() if line.startswith("│"))


@pytest.mark.parametrize("args, chinese, english_text", USAGE_MISTAKES,
                         ids=[" ".join(args) for args, _, _ in USAGE_MISTAKES])
def test_a_usage_mistake_reads_chinese_and_english_on_request(monkeypatch, args, chinese, english_text):
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 2 and _panel(result.output) == chinese, result.output
    monkeypatch.setenv("CAREFLOW_LANG", "en")
    cli_language.cache_clear()
    try:
        result = CliRunner().invoke(app, args, terminal_width=200)
    finally:
        monkeypatch.delenv("CAREFLOW_LANG")
        cli_language.cache_clear()
    assert result.exit_code == 2 and _panel(result.output) == english_text, result.output


def test_a_usage_mistake_reads_english_in_a_new_process():
    done = _english("survey", "duties", "--days", "x")
    assert done.returncode == 2 and "Invalid value for '--days': 'x' is not a whole number" in done.stderr
    assert CJK.search(done.stderr) is None, done.stderr
