"""What a survey import reports: each line's fate (:class:`RowOutcome`) and the whole import (:class:`ImportReport`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from careflow.survey.validate import RowIssue

#: Row problems kept in memory for the report (all of them are stored in ``survey_row_error``).
REPORT_ERRORS = 10_000


@dataclass
class RowOutcome:
    """The fate of one line: ``inserted`` | ``updated`` | ``unchanged`` | ``duplicate`` | ``invalid``.

    ``resident_id`` is masked (``3503**********001X``); ``issues`` the problems of an invalid line; ``note`` e.g.
    ``same as line 4`` for a duplicate, ``moved from 350823`` for a child found in a new county.
    """

    line: int
    fate: str
    resident_id: str = ""
    issues: list[RowIssue] = field(default_factory=list)
    note: str = ""


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        import_id, round_id, county_code, round_label, file_name, file_format, file_sha256: what was imported where.
        counts: ``read`` (data rows, blank ones excluded), ``blank``, ``invalid``, ``duplicate``, ``inserted``,
            ``updated``, ``unchanged``; ``migrant`` and ``key_care`` among the good rows; ``found_later``: rows of
            children a later round has already found (recorded for this round only:
            :func:`careflow.survey.merge_sql.found_later_sql`).
        errors: the row problems (line, field, column, value, code, message), the first :data:`REPORT_ERRORS`
            of ``errors_total`` (all are in ``survey_row_error``).
        notes: corrections made (an ID's lost X recovered), same shape.
        columns: careflow field → header as written; ``ignored_columns``: headers not used.
        relocations: each child found in a new county or area (see :class:`careflow.survey.transfer.Relocation`).
        files: ``opened``, ``reopened``, ``updated``, ``closed`` key care files; ``duties``: ``created``,
            ``cancelled``; ``unrouted``: area → duties not created because no unit covers the area.
        cases_closed_aged_out: case references closed because the child is 16.
        rows: every line's :class:`RowOutcome`, only when asked for (``collect_rows=True``).
        seconds: wall time.
        timings: seconds spent per phase (``load+merge`` wall time of streaming the file, the database time of
            each merge statement summed over chunks, ``consequences``), for benchmarks.
    """

    import_id: int
    round_id: int
    county_code: str
    round_label: str
    file_name: str
    file_format: str
    file_sha256: str
    counts: dict[str, int]
    errors: list[RowIssue]
    errors_total: int
    notes: list[RowIssue]
    columns: dict[str, str]
    ignored_columns: list[str]
    relocations: list = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    duties: dict[str, int] = field(default_factory=dict)
    unrouted: dict[str, int] = field(default_factory=dict)
    cases_closed_aged_out: list[str] = field(default_factory=list)
    rows: list[RowOutcome] | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line, e.g. ``350302 2026-10: 1000 rows — 950 inserted, 20 updated, 10 unchanged, 15 invalid, …``."""
        c = self.counts
        return (f"{self.county_code} {self.round_label} ({self.file_name}): {c['read']} rows — "
                f"{c['inserted']} inserted, {c['updated']} updated, {c['unchanged']} unchanged, "
                f"{c['invalid']} invalid, {c['duplicate']} duplicate, {c['blank']} blank; "
                f"{c['migrant']} migrant, {c['key_care']} key care"
                + (f"; {c['found_later']} found by a later round (recorded for this round only)"
                   if c.get("found_later") else ""))
