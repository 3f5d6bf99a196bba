"""Export the votes for publication, in the public Chatbot Arena battle schema.

One row per counted vote: ``question_id, model_a, model_b, winner, judge,
conversation_a, conversation_b, turn, anony, language, tstamp`` -- the columns of the
published Chatbot Arena files, so pandas and ``datasets`` load an export as they load
those -- and LMArena's ``conv_metadata``, ``category_tag``, plus ``flags`` and
``metadata`` (an imported battle's other columns), and the volunteer's feedback
(``reasons_a``, ``reasons_b``, ``comment``, ``reactions``) and the battle's
``prompt_source``, and its tags (``prompt_language``, ``categories``: see
:mod:`arena.categories`). The comment is free text typed by a volunteer: it goes out with the
conversations, or not at all (``conversations=False`` leaves both out). Each message is
``{role, content, finish_reason, num_tokens}``: the normalised finish reason (``stop``,
``length``, ...) lets a reader drop truncated answers, ``num_tokens`` and ``conv_metadata`` feed
FastChat's long-conversation filter and style control (:mod:`arena.dataset`); reasoning
text is never exported. Formats: JSON lines, a JSON array (FastChat's command line),
CSV (lists and objects as JSON text) and Parquet. Voters appear only as ``judge``, an
HMAC-SHA256 of their browser token keyed with ``ARENA_EXPORT_SALT``, or when it is
unset with a random salt made on the first export and kept in the database
(``app_state``); IP hashes and tokens never leave the database.

Rows stream with constant memory from one query, read a chunk at a time (a server-side
cursor on PostgreSQL); the database itself writes each conversation as JSON. With it
goes a manifest, ``FILE.manifest.json`` (filters, counts, schema version, SHA-256, time,
tool version), and on request a dataset card (``README.md``: schema, counts, date range,
exclusions, license).

Both files are written safely in a folder others may write to: each under a random name
created exclusively in the target's folder (never opening or following what is already
there), then renamed onto the target when complete. An existing file is replaced only
with ``force``, and only if it is a regular file: never a device, FIFO, folder or
symbolic link.

This module writes an export and its manifest; the parts live apart and are still named
here: the columns and options in :mod:`arena.export_schema`, the judges' pseudonyms and
salt in :mod:`arena.export_salt`, the query and its rows in :mod:`arena.export_query`,
the formats in :mod:`arena.export_writers`, the safe files in :mod:`arena.export_files`.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

from arena.dataset import dataset_card, ours
from arena.export_files import TEMP_PREFIX, StagedFile, check_target
from arena.export_query import DEFAULT_CHUNK, RawJson, count_rows, iter_rows
from arena.export_salt import (
    JUDGE_PREFIX,
    MIN_SALT_CHARS,
    SALT_KEY,
    check_salt,
    export_salt,
    pseudonym,
    rotate_salt,
    stored_salt,
)
from arena.export_schema import (
    COLUMNS,
    FORMATS,
    FREE_TEXT,
    LANGUAGE_NAMES,
    MESSAGE_KEYS,
    REACTION_KEYS,
    SCHEMA_VERSION,
    ExportError,
    ExportOptions,
    columns,
    parse_moment,
)
from arena.export_writers import (
    WRITERS,
    CsvWriter,
    JsonlWriter,
    JsonWriter,
    ParquetWriter,
    Writer,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_CHUNK",
    "FORMATS",
    "FREE_TEXT",
    "JUDGE_PREFIX",
    "LANGUAGE_NAMES",
    "MESSAGE_KEYS",
    "MIN_SALT_CHARS",
    "REACTION_KEYS",
    "SALT_KEY",
    "SCHEMA_VERSION",
    "TEMP_PREFIX",
    "WRITERS",
    "CsvWriter",
    "ExportError",
    "ExportOptions",
    "JsonWriter",
    "JsonlWriter",
    "ParquetWriter",
    "RawJson",
    "StagedFile",
    "check_salt",
    "check_target",
    "columns",
    "count_rows",
    "export",
    "export_salt",
    "iter_rows",
    "left_out",
    "manifest_path",
    "parse_moment",
    "pseudonym",
    "rotate_salt",
    "stored_salt",
]


Progress = Callable[[int, int], None]


def _tool_version() -> str:
    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


TOOL_VERSION = _tool_version()


def manifest_path(out: str | os.PathLike) -> Path:
    """Where the manifest of export ``out`` is written."""
    return Path(str(out) + ".manifest.json")


def _write_rows(
    engine: Engine,
    f: BinaryIO,
    fmt: str,
    options: ExportOptions,
    salt: str,
    progress: Progress | None,
    chunk: int,
) -> tuple[Writer, int, Counter[tuple], tuple[float | None, float | None]]:
    """Write the rows to ``f``; return the finished writer, the row count, the rows
    counted per (model_a, model_b, winner, anony, language) -- one update a row, expanded
    later -- and the first and last vote's time."""
    cols = columns(options)
    tally: Counter[tuple] = Counter()
    anony_at, lang_at, time_at = (cols.index(c) for c in ("anony", "language", "tstamp"))
    span = [math.inf, -math.inf]  # the first and last vote's tstamp
    rows = 0
    conn = engine.connect()
    if engine.dialect.name == "postgresql":  # one consistent snapshot for the whole file
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():
            total = count_rows(conn, options)
            writer = WRITERS[fmt](f, cols)
            try:
                for row in iter_rows(conn, options, salt, chunk=chunk):
                    writer.write(row)
                    rows += 1
                    tally[row[1], row[2], row[3], row[anony_at], row[lang_at]] += 1
                    span[0] = min(span[0], row[time_at])  # rows come in vote order, but
                    span[1] = max(span[1], row[time_at])  # two votes may share a time
                    if progress and (rows % 1000 == 0 or rows == total):
                        progress(rows, total)
            finally:  # also on failure: no writer left to flush into a closed file later
                writer.finish()
    finally:
        conn.close()
    return writer, rows, tally, (span[0], span[1]) if rows else (None, None)


def export(
    engine: Engine,
    out: str | os.PathLike,
    fmt: str,
    options: ExportOptions,
    salt: str,
    *,
    progress: Progress | None = None,
    chunk: int = DEFAULT_CHUNK,
    force: bool = False,
    card: str | os.PathLike | None = None,
    license_id: str = "",
) -> dict[str, Any]:
    """Write the export to ``out`` and its manifest next to it; return the manifest.

    With ``card`` (a path, normally ``README.md`` in ``out``'s folder) a dataset card is
    written there too (:func:`arena.dataset.dataset_card`, with ``license_id``). An
    existing ``out``, manifest or card is replaced only with ``force``, and only if it is
    a regular file (see :func:`check_target`). Raises :class:`ExportError` for a missing
    salt, an unknown format or model, a target refused, or a file that cannot be
    written; on any failure no file is left behind, nor any temporary file.
    """
    if fmt not in WRITERS:
        raise ExportError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})", code="invalid")
    check_salt(salt)
    out = Path(out)
    target = manifest_path(out)
    card_path = Path(card) if card is not None else None
    staged: list[StagedFile] = []
    published: list[Path] = []
    try:
        for path in (out, target):
            check_target(path, force=force)
        if card_path:  # a card an earlier export wrote there is ours to replace
            check_target(card_path, force=force or ours(card_path))
        staged.append(data := StagedFile(out))
        writer, rows, tally, span = _write_rows(
            engine, data.file, fmt, options, salt, progress, chunk
        )
        size, sha256 = data.seal(writer.sha256)
        manifest = _manifest(engine, out, fmt, options, rows, tally, size, sha256)
        manifest["counts"]["first_tstamp"], manifest["counts"]["last_tstamp"] = span
        if card_path:
            manifest["card"] = card_path.name
        staged.append(meta := StagedFile(target))
        meta.file.write((json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
        meta.seal()
        if card_path:
            text = dataset_card(manifest, license_id, left_out(engine, options))
            staged.append(readme := StagedFile(card_path))
            readme.file.write(text.encode())
            readme.seal()
        for part in staged:
            part.publish(force=force or (part.target == card_path and ours(card_path)))
            published.append(part.target)
    except OSError as exc:
        _undo(staged, published)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}", code="export_io") from exc
    except BaseException:
        _undo(staged, published)
        raise
    if progress:
        progress(rows, rows)
    return manifest


def left_out(engine: Engine, options: ExportOptions) -> dict[str, int]:
    """How many rows each exclusion of ``options`` kept out (for the dataset card): the
    count with that one filter lifted, less the count with none."""
    with engine.connect() as conn:
        base = count_rows(conn, options)
        out = {}
        for key in ("include_named", "include_flagged", "include_voided"):
            if not getattr(options, key):
                out[key] = count_rows(conn, replace(options, **{key: True})) - base
    return out


def _undo(staged: list[StagedFile], published: list[Path]) -> None:
    for part in staged:
        part.discard()
    for path in published:
        path.unlink(missing_ok=True)


def _manifest(
    engine: Engine,
    out: Path,
    fmt: str,
    options: ExportOptions,
    rows: int,
    tally: Counter[tuple],
    size: int,
    sha256: str,
) -> dict[str, Any]:
    winners: Counter[str] = Counter()
    per_model: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    anony = 0
    for (model_a, model_b, winner, is_anony, language), n in tally.items():
        winners[winner] += n
        per_model[model_a] += n
        per_model[model_b] += n
        languages[language] += n
        anony += n if is_anony else 0
    return {
        "schema": "chatbot-arena-battles",
        "schema_version": SCHEMA_VERSION,
        "columns": list(columns(options)),
        "format": fmt,
        "file": out.name,
        "bytes": size,
        "sha256": sha256,
        "rows": rows,
        "counts": {
            "winner": dict(sorted(winners.items())),
            "anony": anony,
            "named": rows - anony,
            "battles_per_model": dict(sorted(per_model.items())),
            "languages": dict(sorted(languages.items())),
        },
        "filters": options.manifest(),
        "judge": f"{JUDGE_PREFIX} + first 24 hex digits of HMAC-SHA256(ARENA_EXPORT_SALT, "
        "voter token)",
        "database": engine.dialect.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": {"name": "tanuki-arena", "version": TOOL_VERSION},
    }
