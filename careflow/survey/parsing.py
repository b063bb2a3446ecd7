"""Turning a survey file into chunks for the import (:mod:`careflow.survey.importer`): every row validated and
classified (:mod:`careflow.survey.validate`), repeated ID numbers sorted out as far as the file alone can tell, and
the good rows ready for the database — as :class:`~careflow.survey.validate.ValidRow` s, or as PostgreSQL COPY text.

A big file is parsed by child processes (:func:`chunks_in_subprocesses`; on more than three cores two, each taking
every other block of lines): parsing a million rows takes about 17 s of one core and the database about 15 s of
another, so the import runs them side by side instead of one after the other (measured in
``python -m benchmarks.survey``). Chunks travel through queues of two, so memory stays flat whatever the file's
size.
"""
from __future__ import annotations

import datetime
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from careflow.survey.reader import SurveyFileError, SurveySheet, open_survey
from careflow.survey.validate import RowIssue, RowValidator, ValidRow
from models.regions import get_county

#: Good rows per chunk handed to the database.
CHUNK_ROWS = 20_000
#: Lines in the first block (the others have ``chunk_rows``).
FIRST_BLOCK = 2_000
#: In auto mode, files at least this big (bytes) are parsed in a child process; smaller ones are not worth its
#: start (about a second).
SUBPROCESS_BYTES = 4 << 20


@dataclass
class Chunk:
    """A run of the file's lines, parsed.

    Attributes:
        rows: the good rows, each the first of its ID number within the chunk (empty when ``copy_text`` is used).
        copy_text: the same rows as PostgreSQL COPY text, one line each (:meth:`ValidRow.copy_text`), or "".
        loaded: how many good rows (``rows`` or lines of ``copy_text``).
        errors: the problems of the chunk's invalid rows; ``notes``: corrections made (a lost X recovered).
        keys: ``ID number<TAB>line<TAB>row hash`` of each row in ``rows``, one a line (what
            :func:`mark_suspects` needs, cheap to send between processes).
        suspects: (line, ID number, row hash) of good rows whose ID number an earlier chunk may have held
            (:class:`SeenIds` said maybe) — the database settles it.
        repeats: (line, ID number, row hash, first line, its hash) of good rows repeating an ID number earlier in
            the same chunk; they are not in ``rows``.
        read, blank, invalid: data rows read (blank ones excluded), blank rows, invalid rows.
        progress: the fraction of the file read when the chunk was cut (0.0–1.0).
    """

    rows: list[ValidRow] = field(default_factory=list)
    copy_lines: list[str] = field(default_factory=list)
    copy_text: str = ""
    loaded: int = 0
    errors: list[RowIssue] = field(default_factory=list)
    notes: list[RowIssue] = field(default_factory=list)
    suspects: list[tuple[int, str, str]] = field(default_factory=list)
    repeats: list[tuple[int, str, str, int, str]] = field(default_factory=list)
    keys: str = ""
    read: int = 0
    blank: int = 0
    invalid: int = 0
    progress: float = 0.0


class SeenIds:
    """Which ID numbers a file has shown so far, as a fixed bitmap of 2**27 bits (16 MB whatever the file's size):
    a clear bit means "first time" for sure, a set bit "maybe" (about 1 in 130 at a million rows; then the database
    is asked). Memory stays flat where a set of every ID number would grow with the file."""

    BITS = 1 << 27

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS >> 3)

    def add(self, resident_id: str) -> bool:
        """Record ``resident_id``; True when it may have been recorded before."""
        h = hash(resident_id) & (self.BITS - 1)
        byte, mask = h >> 3, 1 << (h & 7)
        if self.bits[byte] & mask:
            return True
        self.bits[byte] |= mask
        return False


def parse_chunks(sheet: SurveySheet, validator: RowValidator, *, chunk_rows: int = CHUNK_ROWS,
                 part: tuple[int, int] = (0, 1)) -> Iterator[Chunk]:
    """The rows of an open ``sheet`` as :class:`Chunk` s, one per block of ``chunk_rows`` data lines (blank ones
    included; the first block :data:`FIRST_BLOCK` at most), in file order; with ``part=(k, n)`` only the blocks k, k + n, k + 2n… (the others are read, not
    parsed), so that n processes can share a file.

    Within a chunk the first line of an ID number wins and later ones become ``repeats``; every other good row is
    listed in ``keys`` for :func:`mark_suspects`. Never raises for bad rows; raises
    :class:`~careflow.survey.reader.SurveyFileError` when the file itself cannot be read on (an undecodable line).
    A validator made with ``copy_lines=True`` gives chunks of ``copy_text`` instead of ``rows``.
    """
    mine, parts = part
    copy_lines = validator.copy_lines
    validate, is_blank = validator.validate, validator.is_blank
    block = count = 0
    chunk = Chunk()
    rows: list = chunk.copy_lines if copy_lines else chunk.rows
    keys: list[str] = []
    firsts: dict[str, tuple[int, str]] = {}  # ID number → (line, row hash) of its first good row in the chunk
    size = min(FIRST_BLOCK, chunk_rows)  # a small first block: the database starts work sooner
    for line, cells in sheet.rows:
        if count == size:
            size = chunk_rows
            if block % parts == mine:
                yield _finished(chunk, keys, sheet.progress())
                chunk, keys = Chunk(), []
                rows = chunk.copy_lines if copy_lines else chunk.rows
                firsts.clear()
            block += 1
            count = 0
        count += 1
        if block % parts != mine:
            continue
        if is_blank(cells):
            chunk.blank += 1
            continue
        chunk.read += 1
        row, issues, notes, copy_line = validate(line, cells)
        if notes:
            chunk.notes.extend(notes)
        if row is None:
            chunk.invalid += 1
            chunk.errors.extend(issues)
        else:
            rid = row.resident_id
            first = firsts.get(rid)
            if first is not None:
                chunk.repeats.append((line, rid, row.row_hash, *first))
            else:
                firsts[rid] = (line, row.row_hash)
                keys.append(f"{rid}\t{line}\t{row.row_hash}")
                rows.append(copy_line if copy_lines else row)
    if block % parts == mine:
        yield _finished(chunk, keys, 1.0)


def _finished(chunk: Chunk, keys: list[str], progress: float) -> Chunk:
    chunk.loaded = len(chunk.copy_lines) or len(chunk.rows)
    chunk.progress = progress
    chunk.keys = "\n".join(keys)
    if chunk.copy_lines:
        chunk.copy_text = "".join(chunk.copy_lines)
        chunk.copy_lines = []
    return chunk


def mark_suspects(chunk: Chunk, seen: SeenIds) -> Chunk:
    """Fill ``chunk.suspects`` from its ``keys`` with the rows whose ID number ``seen`` (the file's earlier chunks,
    in file order) may hold; returns the chunk."""
    if not chunk.keys:
        return chunk
    bits, last = seen.bits, seen.BITS - 1  # SeenIds.add inlined: a million calls saved a million rows
    for key in chunk.keys.split("\n"):
        h = hash(key[:18]) & last
        mask = 1 << (h & 7)
        h >>= 3
        if bits[h] & mask:
            rid, line, row_hash = key.split("\t")
            chunk.suspects.append((int(line), rid, row_hash))
        else:
            bits[h] |= mask
    return chunk


def parser_processes(path: Path, workers: int | None) -> int:
    """How many child processes parse ``path``: ``workers`` if given (0: none, parse in this process); else none
    for a file under :data:`SUBPROCESS_BYTES` or on one core, one on two or three cores (measured on two cores:
    two parsers and the database then fight for the cores, and the import is slower than with one), two on more."""
    if workers is not None:
        return workers
    cores = os.cpu_count() or 1
    if cores < 2 or path.stat().st_size < SUBPROCESS_BYTES:
        return 0
    return 1 if cores < 4 else 2


class ParserProcesses:
    """:func:`parse_chunks` of the file at ``path`` shared by ``processes`` child processes, started at once (they
    get ready while the importing process sets up the database), each parsing every n-th block. Iterate to get the
    chunks in file order; :meth:`close` when done (or failed), which stops any child still running.

    Each child is ``python -m careflow.survey.parsing`` (a program of its own, so the caller's main module is never
    imported again, as :mod:`multiprocessing` would) writing its chunks, pickled, to a pipe: a child waits while
    the pipe is full, so memory stays flat.

    Iterating raises:
        SurveyFileError: a child found the file unreadable part-way (the message as :func:`parse_chunks` gives it).
        RuntimeError: a child failed otherwise or died (its exit code and the end of what it printed).
    """

    def __init__(self, path: Path, county_code: str, as_of: datetime.date, today: datetime.date, *,
                 processes: int = 2, copy_text: bool, chunk_rows: int = CHUNK_ROWS, id_prefix: str = "") -> None:
        arguments = [str(path), county_code, as_of.isoformat(), today.isoformat(), "copy" if copy_text else "rows",
                     str(chunk_rows), id_prefix or "-"]
        self.children = [subprocess.Popen([sys.executable, "-m", "careflow.survey.parsing", *arguments, str(k),
                                           str(processes)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for k in range(processes)]

    def __iter__(self) -> Iterator[Chunk]:
        block = 0
        while True:
            item = _receive(self.children[block % len(self.children)])
            if item is None:  # block ``block`` does not exist: the file has ended
                return
            if isinstance(item, _Failure):
                raise item.rebuild()
            yield item
            block += 1

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()
            child.stderr.close()


def _receive(child: subprocess.Popen) -> "Chunk | _Failure | None":
    size = child.stdout.read(8)
    if len(size) < 8:
        child.wait()
        error = child.stderr.read().decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"the survey parser process stopped (exit code {child.returncode}): {error}")
    return pickle.loads(child.stdout.read(int.from_bytes(size, "big")))


@dataclass
class _Failure:
    kind: str
    message: str
    key: str = ""  # a SurveyFileError's message key and values, to word it again in the reader's language
    values: dict | None = None

    def rebuild(self) -> Exception:
        if self.kind == "SurveyFileError":
            return SurveyFileError(self.key, **(self.values or {}))
        return RuntimeError(f"the survey parser failed: {self.kind}: {self.message}")


def _send(out, item) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "big"))
    out.write(data)
    out.flush()


def _produce(argv: list[str]) -> int:
    """The child's work: ``path county as_of today copy|rows chunk_rows id_prefix|- part parts`` → chunks on
    stdout."""
    path, county_code, as_of, today, mode, chunk_rows, id_prefix, mine, parts = argv
    out = sys.stdout.buffer
    try:
        with open_survey(path) as sheet:
            validator = RowValidator(sheet.header, get_county(county_code), datetime.date.fromisoformat(as_of),
                                     today=datetime.date.fromisoformat(today), copy_lines=mode == "copy",
                                     id_prefix="" if id_prefix == "-" else id_prefix)
            for chunk in parse_chunks(sheet, validator, chunk_rows=int(chunk_rows), part=(int(mine), int(parts))):
                _send(out, chunk)
        _send(out, None)
    except BrokenPipeError:  # the importing process stopped reading (it failed or was stopped)
        return 1
    except BaseException as exc:  # noqa: BLE001 - reported to the importing process
        _send(out, _Failure(type(exc).__name__, str(exc), getattr(exc, "key", ""), getattr(exc, "values", None)))
    return 0


if __name__ == "__main__":
    from careflow.survey import parsing  # the module by its own name, so that what is pickled names it

    sys.exit(parsing._produce(sys.argv[1:]))
