"""Import battle files (JSONL, JSON, CSV, Parquet) of any published arena layout.

Rows are read by the shared reader, :mod:`ratings.battlefile` (FastChat's clean battles
and public release, LMArena's arena-human-preference, compar:IA votes; detected or
forced with ``schema``), the same one ``python -m ratings fit`` uses. Each row becomes a
voted battle: its models (created as needed, provider ``imported``, disabled for
sampling), a voter per ``judge`` (the judge kept as given in ``voters.judge``), the
messages of both conversations (system messages as turn 0, ``num_tokens`` kept) and the
vote. The row's own id is kept in ``battles.source_id``; its moderation or toxic-chat
verdict becomes the stored ``flag_moderation`` (left out of ratings and exports by
default, counted in the report); ``conv_metadata``, ``category_tag`` and its other
columns go to ``battles.meta``. A row whose id is already in the database (or earlier in
the file) is skipped as a duplicate; the id is the battle id when it is 32 hex digits,
else its SHA-256 cut to 32 hex digits (a row without one: a hash of its content), so
re-importing finds it again.

A broken row is refused with its line (or row) number and the reason; the others are
taken, and the report groups the refusals by reason. The whole import is one
transaction: a file that cannot be read as a whole, a file in which every row is refused,
a database failure, or (with ``strict``) any refused row leaves the database as it was.
Rows are inserted a batch at a time, the fastest way each database has (PostgreSQL
COPY, SQLite's executemany).
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import pickle
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    any_,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlalchemy.types import TypeDecorator

from arena.backends.base import FINISH_REASONS
from arena.db.engine import dialect_insert
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Reaction,
    Vote,
    Voter,
    VoteReason,
    Winner,
    utcnow,
)
from arena.errors import ArenaError, StorageError
from ratings.battlefile import (
    FORMATS,
    SCHEMAS,
    BattleRowError,
    decode_record,
    detect_format,
    detect_schema,
    file_columns,
    normalise,
    record_unit,
    records,
)
from ratings.errors import InvalidInputError

BATCH = 2000
PARALLEL_BYTES = 16 << 20
SQLITE_CACHE_KIB = 64 << 10
PG_SORT_MEMORY = "256MB"
MAX_PROBLEMS = 10_000
WINNERS = {w.value: w for w in Winner}
HEX32 = re.compile(r"[0-9a-fA-F]{32}")
ROLES = ("user", "assistant", "system")
NULL = "\\N"  # a null in PostgreSQL's COPY text format
IMPORTED_PROVIDER = "imported"
#: Flags a file can carry that become ``battles.flag_moderation``.
MODERATION = frozenset({"moderation", "toxic_chat"})

Progress = Callable[[int], None]


class ImportFailed(ArenaError):
    """The import was rolled back; ``report`` says what was read before it stopped."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message, code="import_failed")
        self.report = report


class RowError(ValueError):
    """One row is unusable; the message is the reason shown to the operator."""


@dataclass
class ImportReport:
    """What an import did. ``problems`` keeps the first :data:`MAX_PROBLEMS` refusals."""

    file: str
    unit: str = "line"  # how rows are numbered: "line" (JSONL, CSV) or "row"
    schema: str = ""
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refused: int = 0
    #: Imported rows by flag (``moderation``, ``toxic_chat``): stored as flagged battles.
    flagged: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str]] = field(default_factory=list)
    models_created: list[str] = field(default_factory=list)
    voters_created: int = 0
    bulk: bool = False  # indexes rebuilt after the load (see import_file)
    committed: bool = False

    def refuse(self, where: int, reason: str) -> None:
        self.refused += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((where, reason))

    def summary(self) -> str:
        state = "committed" if self.committed else "nothing written (rolled back)"
        flagged = sum(self.flagged.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.flagged.items()))
        flags = f", {flagged} of them flagged ({kinds}; left out of ratings)" if flagged else ""
        return (
            f"{self.file} ({self.schema or 'unknown'} layout): {self.rows} rows read: "
            f"{self.imported} imported{flags}, {self.duplicates} duplicates skipped, "
            f"{self.refused} refused; {state}"
        )

    def grouped(self, shown: int = 20) -> list[tuple[str, int, list[int]]]:
        """The refusals by reason, most frequent first: ``(reason, count, the first
        ``shown`` line or row numbers)`` (counted among the kept :attr:`problems`)."""
        by_reason: dict[str, list[int]] = {}
        for where, reason in self.problems:
            by_reason.setdefault(reason, []).append(where)
        ordered = sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[1][0]))
        return [(reason, len(where), where[:shown]) for reason, where in ordered]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "schema": self.schema,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "flagged": dict(self.flagged),
            "refusals": [
                {"reason": reason, "rows": n, f"{self.unit}s": where}
                for reason, n, where in self.grouped()
            ],
            "problems": [{self.unit: w, "reason": r} for w, r in self.problems],
            "models_created": self.models_created,
            "voters_created": self.voters_created,
            "bulk": self.bulk,
            "committed": self.committed,
        }


class Row(NamedTuple):
    """A validated battle row, its times already in the form the database stores."""

    where: int
    id: str
    model_a: str
    model_b: str
    winner: str  # a Winner value
    judge: str
    turns: int
    anony: bool
    language: str
    at: Any  # the vote's time: a datetime, or SQLite's text
    source_id: str | None  # the id the file gave, if any
    judge_given: str | None  # the judge as the file gave it
    flags: tuple[str, ...]  # moderation, toxic_chat, identity
    meta: str | None  # JSON: conv_metadata, category_tag, metadata
    feedback: Feedback  # this arena's own export: the volunteer's reasons, comment, reactions
    # Both sides' rows of MESSAGE_COLUMNS; for PostgreSQL already in COPY's text format,
    # made by the worker process that validates, so the importing process only sends it.
    messages: list[tuple] | bytes


class Feedback(NamedTuple):
    """What a volunteer told besides the verdict, as this arena's export writes it."""

    reasons: tuple[tuple[str, str], ...] = ()  # (side, tag), in the order given
    comment: str | None = None
    reactions: tuple[tuple[int, str, int], ...] = ()  # (turn, side, value)
    prompt_source: str | None = None


NO_FEEDBACK = Feedback()
#: The export's feedback columns (schema version 4); in other layouts they are metadata.
FEEDBACK_COLUMNS = ("reasons_a", "reasons_b", "comment", "reactions", "prompt_source")
MAX_TAG = 40


def _feedback(metadata: dict[str, Any]) -> Feedback:
    """Take the feedback columns out of a row's other columns and check them."""
    if not any(k in metadata for k in FEEDBACK_COLUMNS):
        return NO_FEEDBACK
    given = {k: metadata.pop(k) for k in FEEDBACK_COLUMNS if k in metadata}
    reasons = []
    for side in ("a", "b"):
        tags = given.get(f"reasons_{side}") or []
        if not isinstance(tags, list) or any(
            type(t) is not str or not 0 < len(t) <= MAX_TAG or "\x00" in t for t in tags
        ):
            raise RowError(
                f"reasons_{side} must be a list of tags (text of 1-{MAX_TAG} characters)"
            )
        if len(set(tags)) != len(tags):
            raise RowError(f"reasons_{side} names a tag twice")
        reasons += [(side, t) for t in tags]
    reactions = []
    for k, item in enumerate(given.get("reactions") or []):
        turn = item.get("turn") if isinstance(item, dict) else None
        side = item.get("side") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        whole = type(turn) is int and type(value) is int
        if not whole or turn < 1 or side not in ("a", "b") or value not in (1, -1):
            raise RowError(f"reactions[{k}] must be {{turn >= 1, side a or b, value 1 or -1}}")
        reactions.append((turn, side, value))
    if len({r[:2] for r in reactions}) != len(reactions):
        raise RowError("reactions holds two reactions to one answer")
    comment = given.get("comment")
    source = given.get("prompt_source")
    if comment is not None and (type(comment) is not str or "\x00" in comment):
        raise RowError("comment must be text without NUL characters")
    if source is not None and (type(source) is not str or len(source) > MAX_TAG):
        raise RowError(f"prompt_source must be text of at most {MAX_TAG} characters")
    return Feedback(tuple(reasons), comment or None, tuple(reactions), source or None)


# -- validating rows ----------------------------------------------------------------


def battle_id(question_id: str) -> str:
    """The battle id of a row's id: itself if 32 hex digits, else a hash of it."""
    if HEX32.fullmatch(question_id):
        return question_id.lower()
    return hashlib.sha256(b"question_id:" + question_id.encode()).hexdigest()[:32]


def voter_token(judge: str) -> str:
    """The voters.token of an imported judge (64 characters, unlike browser tokens)."""
    return "imp_" + hashlib.sha256(b"judge:" + judge.encode()).hexdigest()[:60]


def _text(value: str | None, key: str, limit: int) -> str:
    """A normalised text field, checked for length and NUL (empty when missing)."""
    if value is None:
        return ""
    if len(value) > limit:
        raise RowError(f"{key} longer than {limit} characters")
    if "\x00" in value:
        raise RowError(f"{key} contains a NUL character")
    return value


Message_ = tuple[int, str, str, str | None, int | None]  # turn, role, content, finish, tokens


def _conversation(messages: list[dict[str, Any]], key: str) -> list[Message_]:
    """``(turn, role, content, finish_reason, num_tokens)`` of each message. A user
    message starts a turn; system messages come first, as turn 0; ``finish_reason`` (an
    export's, one of FINISH_REASONS) is only for an answer."""
    out: list[Message_] = []
    turn = 0
    for k, msg in enumerate(messages):
        role, content, finish = msg["role"], msg["content"], msg.get("finish_reason")
        where = f"{key}[{k}]"
        if role == "user":
            turn += 1
        elif role == "system" and turn:
            raise RowError(f"{where} is a system message after the conversation started")
        elif role == "assistant" and not turn:
            raise RowError(f"{key} starts with an assistant message")
        if "\x00" in content:
            raise RowError(f"{where}.content contains a NUL character")
        if finish is not None:
            if role != "assistant":
                raise RowError(f"{where}.finish_reason must be null for a {role} message")
            if type(finish) is not str or finish not in FINISH_REASONS:
                known = ", ".join(sorted(FINISH_REASONS))
                raise RowError(
                    f"{where}.finish_reason must be null or one of {known}, got {finish!r}"
                )
        out.append((turn, role, content, finish, msg.get("num_tokens")))
    return out


def _moment(value: float | None) -> datetime:
    if value is None:
        raise RowError("missing tstamp (the vote's time)")
    if not 0 < value < 4.1e9:
        raise RowError(f"tstamp out of range: {value!r}")
    return datetime.fromtimestamp(value, UTC)


def _turns(value: Any, conv_a: list, conv_b: list) -> int:
    if value is None or value == "":
        return max(1, conv_a[-1][0] if conv_a else 0, conv_b[-1][0] if conv_b else 0)
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        turns = int(float(value))
    except (TypeError, ValueError):
        raise RowError(f"turn must be a whole number, got {value!r}") from None
    if turns < 1:
        raise RowError(f"turn must be at least 1, got {turns}")
    return turns


SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(texts: dict[str, str], conv_a: list, conv_b: list, meta: str) -> None:
    """Raise :class:`RowError` naming the first text holding a lone surrogate: Python's
    JSON decoder lets one through from an escape, and no database can store it."""
    named = [*texts.items(), ("metadata", meta)]
    for key, conv in (("conversation_a", conv_a), ("conversation_b", conv_b)):
        named += [(f"{key}[{k}].content", m[2]) for k, m in enumerate(conv)]
    for name, text in named:
        found = None if text.isascii() else SURROGATE.search(text)
        if found:
            raise RowError(
                f"{name} is not valid Unicode: it holds a lone surrogate "
                f"(U+{ord(found.group()):04X}, half of a character cut in two)"
            )


def _meta(row: dict[str, Any], schema: str) -> str | None:
    """What ``battles.meta`` keeps of a row: JSON, or None when there is nothing (its
    ``flags`` too, so that an export names the source's verdicts, not only the column)."""
    kept = {k: row[k] for k in ("conv_metadata", "category_tag", "metadata", "flags") if row[k]}
    # conv_metadata is kept as the file gives it (an export passes the stored one on
    # instead of counting the conversations again), our own exports' too.
    if not kept:
        return None
    kept["schema"] = schema
    try:  # a Parquet column of times or bytes: kept as its text
        return json.dumps(
            kept, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except ValueError as exc:  # a float that is not finite, a cycle
        raise RowError(f"metadata cannot be kept as JSON: {exc}") from None


def validate(where: int, raw: Any, *, dialect: str = "", schema: str = "fastchat") -> Row:
    """Check one row of ``schema`` (a dict, or a JSON line as bytes); raise
    :class:`RowError` with the reason. Times and messages come in the form ``dialect``'s
    database takes (see :class:`Row`)."""
    # Only a \uD800-\uDFFF escape can put a lone surrogate into a JSON line (raw UTF-8
    # cannot hold one); rows that came as objects are looked through every time.
    suspect = type(raw) is not bytes or b"\\ud" in raw or b"\\uD" in raw
    try:
        row = normalise(decode_record(raw), schema)
    except BattleRowError as exc:
        raise RowError(str(exc)) from None
    source = _text(row["id"], "id", 200) if not row["metadata"].get("id_derived") else None
    model_a, model_b = _text(row["model_a"], "model_a", 200), _text(row["model_b"], "model_b", 200)
    judge = _text(row["judge"], "judge", 200)
    language = _text(row["language"], "language", 64) or "und"
    conv_a = _conversation(row["conversation_a"], "conversation_a")
    conv_b = _conversation(row["conversation_b"], "conversation_b")
    feedback = _feedback(row["metadata"]) if schema == "fastchat" else NO_FEEDBACK
    meta = _meta(row, schema)
    if suspect:
        texts = {"id": row["id"], "model_a": model_a, "model_b": model_b, "judge": judge,
                 "language": language, "comment": feedback.comment or ""}  # fmt: skip
        _refuse_surrogates(texts, conv_a, conv_b, meta or "")
    bid, moment = battle_id(row["id"]), _moment(row["tstamp"])
    at = _sqlite_time(moment) if dialect == "sqlite" else moment
    messages: list[tuple] | bytes
    if dialect == "postgresql":
        messages = _copy_messages(bid, conv_a, conv_b, moment)
    else:
        messages = [(bid, "a", *message, at) for message in conv_a]
        messages += [(bid, "b", *message, at) for message in conv_b]
    return Row(
        where=where,
        id=bid,
        model_a=model_a,
        model_b=model_b,
        winner=WINNERS[row["winner"]].value,
        judge=judge,
        turns=_turns(row["turn"], conv_a, conv_b),
        anony=bool(row["anony"]),
        language=language,
        at=at,
        messages=messages,
        source_id=source,
        judge_given=row["judge"],
        flags=tuple(row["flags"]),
        meta=meta,
        feedback=feedback,
    )


def _copy_escape(text: str) -> str:
    """``text`` as a field of PostgreSQL's COPY text format (NUL is refused earlier)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    return text


def _copy_messages(bid: str, conv_a: list, conv_b: list, at: datetime) -> bytes:
    """The rows of MESSAGE_COLUMNS of one battle in COPY's text format. Only the content
    needs escaping: the id is hex, the side, role, turn, finish reason and token count
    are checked (``\\N`` is COPY's null), the time is ISO."""
    tail = f"\t{at.isoformat()}\n"
    lines = [
        f"{bid}\t{side}\t{turn}\t{role}\t{_copy_escape(content)}\t{finish or NULL}\t"
        f"{NULL if tokens is None else tokens}{tail}"
        for side, conv in (("a", conv_a), ("b", conv_b))
        for turn, role, content, finish, tokens in conv
    ]
    return "".join(lines).encode()


def check_chunk(
    chunk: Iterable[tuple[int, Any]], dialect: str, schema: str = "fastchat"
) -> list[Row | tuple]:
    """Validate a chunk of raw rows: a :class:`Row` for each good one, ``(where, reason)``
    for each refused one, in order. Runs in a worker process for a big file."""
    out: list[Row | tuple] = []
    for where, raw in chunk:
        try:
            out.append(validate(where, raw, dialect=dialect, schema=schema))
        except RowError as exc:
            out.append((where, str(exc)))
    return out


def check_chunk_packed(chunk: Iterable[tuple[int, Any]], dialect: str, schema: str) -> bytes:
    """:func:`check_chunk`, pickled by the worker process itself. Otherwise the pool's
    result thread would unpickle the rows, holding the GIL that the importing thread takes
    back after every row SQLite stores; as bytes they cross whole, and the importing
    thread unpickles them between its batches (:func:`_unpacked`)."""
    return pickle.dumps(check_chunk(chunk, dialect, schema), pickle.HIGHEST_PROTOCOL)


# -- writing ------------------------------------------------------------------------


BATTLE_COLUMNS = (
    "id", "voter_id", "model_a_id", "model_b_id", "mode", "status", "language", "turns",
    "flag_identity", "flag_moderation", "created_at", "ready_at", "source_id", "meta",
    "prompt_source",
)  # fmt: skip
VOTE_COLUMNS = (
    "battle_id", "voter_id", "winner", "seconds_to_vote", "created_at", "voided", "void_reason",
    "comment",
)  # fmt: skip
REASON_COLUMNS = ("battle_id", "side", "tag")
REACTION_COLUMNS = ("battle_id", "turn", "side", "value", "created_at")
ANONY, NAMED, VOTED = BattleMode.ANONY.value, BattleMode.NAMED.value, BattleStatus.VOTED.value
MESSAGE_COLUMNS = (
    "battle_id", "side", "turn", "role", "content", "finish_reason", "num_tokens", "created_at",
)  # fmt: skip


def _sqlite_time(moment: datetime) -> str:
    # The text SQLAlchemy stores for a DateTime on SQLite (UTC, no offset).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes
) -> None:
    """Insert many rows in the connection's transaction, the fastest way the database has.

    PostgreSQL: COPY (``rows`` may be bytes already in COPY's text format); SQLite: the
    driver's ``executemany``; other databases: SQLAlchemy's executemany. Values must
    already be what the column stores (enum values as text, SQLite times as text).
    """
    if not rows:
        return
    try:
        _bulk_insert(conn, table, columns, rows)
    except conn.dialect.loaded_dbapi.Error as exc:  # the raw paths bypass SQLAlchemy's wrapping
        raise StorageError(f"the database refused rows of {table.name}: {exc}") from exc


def _pg_type(kind: Any) -> str:
    # Binary COPY needs each column's PostgreSQL type (enums are stored as VARCHAR).
    if isinstance(kind, TypeDecorator):  # e.g. a DateTime that converts to UTC
        kind = kind.impl
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    for sa_type, pg in ((Boolean, "bool"), (Integer, "int4"), (Float, "float8"), (Text, "text")):
        if isinstance(kind, sa_type):
            return pg
    return "varchar"


def _bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes
) -> None:
    dialect = conn.dialect.name
    names = ", ".join(columns)
    if dialect == "postgresql" and isinstance(rows, bytes):
        with (
            conn.connection.dbapi_connection.cursor() as cur,  # type: ignore[union-attr]
            cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            copy.write(rows)
    elif dialect == "postgresql":
        sql = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
        with (
            conn.connection.dbapi_connection.cursor() as cur,  # type: ignore[union-attr]
            cur.copy(sql) as copy,
        ):
            copy.set_types([_pg_type(table.c[c].type) for c in columns])
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        finally:
            cur.close()
    else:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


class _Loader:
    """Inserts validated rows batch by batch on one connection (one transaction)."""

    def __init__(
        self, conn: Connection, report: ImportReport, source: str, *, empty: bool = False
    ) -> None:
        self.conn, self.report, self.source = conn, report, source
        # Into an empty database, the battle ids taken so far (as integers: 32 hex digits)
        # answer the duplicate check without a query per batch.
        self.seen: set[int] | None = set() if empty else None
        self.models: dict[str, int] = dict(conn.execute(select(Model.name, Model.id)).all())
        self.voters: dict[str, int] = {}

    def _among(self, column: Any, values: Iterable[str]) -> Any:
        """``column IN values``; on PostgreSQL one array parameter instead of thousands."""
        if self.conn.dialect.name == "postgresql":
            return column == any_(literal(list(values), ARRAY(String)))
        return column.in_(list(values))

    def _model_ids(self, names: set[str]) -> None:
        new = sorted(names - set(self.models))
        if not new:
            return
        now, note = utcnow(), f"imported from {self.source}"
        self.conn.execute(
            insert(Model),
            [
                dict(name=n, provider=IMPORTED_PROVIDER, weights="closed", description=note,
                     enabled=False, demo=False, created_at=now)
                for n in new
            ],
        )  # fmt: skip
        self.models.update(
            self.conn.execute(select(Model.name, Model.id).where(Model.name.in_(new))).all()
        )
        self.report.models_created += new

    def _voter_ids(self, judges: set[str]) -> None:
        want = {voter_token(j): j for j in judges if j not in self.voters}
        if not want:
            return
        # New voters come back with their ids; tokens already in the database (a judge
        # imported before) are skipped by the insert and looked up.
        insert_new = dialect_insert(self.conn.dialect.name)(Voter).on_conflict_do_nothing(
            index_elements=[Voter.token]
        )
        now = utcnow()
        created = self.conn.execute(
            insert_new.returning(Voter.token, Voter.id),
            [
                {"token": t, "ip_hash": None, "judge": j or None, "created_at": now}
                for t, j in want.items()
            ],
        ).all()
        for token, vid in created:
            self.voters[want.pop(token)] = vid
        self.report.voters_created += len(created)
        if want:
            found = self.conn.execute(
                select(Voter.token, Voter.id).where(self._among(Voter.token, want))
            )
            for token, vid in found:
                self.voters[want[token]] = vid

    def load(self, batch: list[Row]) -> None:
        fresh: dict[str, Row] = {}
        for row in batch:
            if row.id in fresh:
                self.report.duplicates += 1
            else:
                fresh[row.id] = row
        if self.seen is None:
            existing = set(
                self.conn.scalars(select(Battle.id).where(self._among(Battle.id, fresh)))
            )
        else:  # the database had no battles: only this import's own ids can repeat
            existing = {i for i in fresh if int(i, 16) in self.seen}
            self.seen.update(int(i, 16) for i in fresh if i not in existing)
        self.report.duplicates += len(existing)
        rows = [r for r in fresh.values() if r.id not in existing]
        if not rows:
            return
        self._model_ids({r.model_a for r in rows} | {r.model_b for r in rows})
        self._voter_ids({r.judge for r in rows})
        battles, votes, messages, reasons, reactions = [], [], [], [], []
        copy_text = self.conn.dialect.name == "postgresql"
        for r in rows:
            voter, at = self.voters[r.judge], r.at
            mode = ANONY if r.anony else NAMED
            ids = (self.models[r.model_a], self.models[r.model_b])
            identity, moderation = "identity" in r.flags, bool(MODERATION.intersection(r.flags))
            battles.append(
                (r.id, voter, *ids, mode, VOTED, r.language, r.turns, identity, moderation,
                 at, at, r.source_id, r.meta, r.feedback.prompt_source)
            )  # fmt: skip
            self.report.flagged.update(r.flags)
            votes.append((r.id, voter, r.winner, None, at, False, None, r.feedback.comment))
            if r.feedback.reasons or r.feedback.reactions:  # (an export's rows, some of them)
                reasons += [(r.id, side, tag) for side, tag in r.feedback.reasons]
                reactions += [(r.id, *reaction, at) for reaction in r.feedback.reactions]
            if copy_text:
                messages.append(r.messages)
            else:
                messages += r.messages
        bulk_insert(self.conn, Battle.__table__, BATTLE_COLUMNS, battles)
        bulk_insert(self.conn, Vote.__table__, VOTE_COLUMNS, votes)
        bulk_insert(
            self.conn,
            Message.__table__,
            MESSAGE_COLUMNS,
            b"".join(messages) if copy_text else messages,
        )
        bulk_insert(self.conn, VoteReason.__table__, REASON_COLUMNS, reasons)
        bulk_insert(self.conn, Reaction.__table__, REACTION_COLUMNS, reactions)
        self.report.imported += len(rows)


#: INSERT constructs that know ON CONFLICT, by dialect.

#: The tables an import fills: a bulk import rebuilds their secondary indexes.
BULK_TABLES = (Battle.__table__, Vote.__table__, Message.__table__)


def _drop_for_bulk(conn: Connection) -> Callable[[], None]:
    """Drop the secondary indexes (and on PostgreSQL the foreign keys) of the tables an
    import fills, in the import's transaction; return what rebuilds them.

    Building an index once from all its rows, and checking a foreign key with one join,
    cost far less than keeping them up row by row. Other connections see nothing of it
    until the commit, and a rollback restores them.
    """
    pg = conn.dialect.name == "postgresql"
    if pg:  # room to sort the index entries and hash the key checks' joins in memory
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_SORT_MEMORY}'")
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_SORT_MEMORY}'")
    indexes = [ix for t in BULK_TABLES for ix in t.indexes if not ix.unique]
    keys = [fk.constraint for t in BULK_TABLES for fk in t.foreign_keys] if pg else []
    for fk in keys:
        conn.execute(DropConstraint(fk))
    for ix in indexes:
        ix.drop(conn)

    def rebuild() -> None:
        for ix in indexes:
            ix.create(conn)
        for fk in keys:
            conn.execute(AddConstraint(fk))

    return rebuild


@contextmanager
def _import_connection(
    engine: Engine, bulk: bool | None
) -> Iterator[tuple[Connection, bool, bool]]:
    """A connection for one import, whether the database has no battles yet, and whether
    the import loads in bulk (``bulk=None``: exactly when it has none).

    On SQLite the connection's page cache grows to :data:`SQLITE_CACHE_KIB` for the import
    (with the default 2 MB, a million battles' unique indexes no longer fit and each
    insert spills pages to the WAL and reads them back), and a bulk load turns
    foreign-key enforcement off: the loader inserts only references it has just looked up
    or created. CHECK constraints are not evaluated on SQLite: the loader writes only
    values of the enums they list, and SQLite would build each ``IN (...)`` list anew for
    every row (half the time of a battle's or a vote's insert). On PostgreSQL no statement
    is prepared (see below).
    """
    with engine.connect() as conn:
        empty = conn.scalar(select(Battle.id).limit(1)) is None
        conn.rollback()
        bulk = empty if bulk is None else bulk
        dbapi: Any = conn.connection.dbapi_connection
        dialect = conn.dialect.name
        pragmas: dict[str, int] = {}
        if dialect == "sqlite":
            pragmas = {"cache_size": -SQLITE_CACHE_KIB, "ignore_check_constraints": 1}
            if bulk:
                pragmas["foreign_keys"] = 0
        before = {name: dbapi.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas}
        for name, value in pragmas.items():
            dbapi.execute(f"PRAGMA {name}={value}")
        prepare = getattr(dbapi, "prepare_threshold", None)
        if dialect == "postgresql":
            # psycopg prepares a statement run five times; the generic plan PostgreSQL
            # keeps was made while the tables were small (a sequential scan), and they
            # grow during the import, so each later duplicate or voter lookup would
            # scan more.
            dbapi.prepare_threshold = None
        try:
            yield conn, empty, bulk
        finally:
            for name, value in before.items():  # the connection goes back to the pool
                dbapi.execute(f"PRAGMA {name}={value}")
            if dialect == "postgresql":
                dbapi.prepare_threshold = prepare


def _chunks(path: Path, fmt: str, size: int) -> Iterator[Any]:
    """The file's raw rows, ``size`` at a time."""
    chunk: list[tuple[int, Any]] = []
    for record in records(path, fmt):
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked(chunks: Iterator[Any], dialect: str, schema: str, workers: int) -> Iterator[list]:
    """:func:`check_chunk` of each chunk, in order. With ``workers``, worker processes
    check a few chunks ahead while this process writes: decoding and validating are
    about half of an import's work, and the database's half stays here."""
    if not workers:
        for chunk in chunks:
            yield check_chunk(chunk, dialect, schema)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(check_chunk_packed, chunk, dialect, schema))
            if len(pending) > 2 * workers:
                yield _unpacked(pending.popleft().result())
        while pending:
            yield _unpacked(pending.popleft().result())
    finally:
        pool.shutdown(cancel_futures=True)


def _unpacked(data: bytes) -> list:
    """A chunk :func:`check_chunk_packed` made. The cyclic garbage collector is held off
    while it is unpickled: the chunk's tens of thousands of new tuples would start many
    collections over objects that cannot form cycles (about half the unpickling time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if collecting:
            gc.enable()


#: Validating worker processes for a big file on a machine with more than one CPU. Two on
#: two cores beat one by 10-15 % (100,000 votes: PostgreSQL 15,100 -> 16,900 rows/s,
#: SQLite 13,600 -> 15,300): validating is the slowest part, and a worker waits while the
#: importing process or the database takes the CPU.
MAX_WORKERS = 2


def _workers(path: Path) -> int:
    """Worker processes for a file big enough to repay starting them, given a spare CPU."""
    cpus = os.cpu_count() or 1
    return min(MAX_WORKERS, cpus) if cpus > 1 and path.stat().st_size >= PARALLEL_BYTES else 0


def import_file(
    engine: Engine,
    path: str | Path,
    *,
    fmt: str | None = None,
    schema: str | None = None,
    strict: bool = False,
    dry_run: bool = False,
    bulk: bool | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_commit: Callable[[Connection, ImportReport], None] | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import ``path`` in one transaction and return the report.

    ``schema`` (one of :data:`ratings.battlefile.SCHEMAS`) is detected from the file's
    columns when not given. Raises :class:`ImportFailed` (after rolling back) when the
    file cannot be read as a whole, every row of it is refused, the database fails, or
    ``strict`` is set and a row was refused.
    ``on_commit`` runs inside the transaction just before it commits (e.g. an audit row).
    ``dry_run`` validates and inserts, then rolls back. ``bulk`` (default: when the
    database has no battles) drops and rebuilds indexes around the load; on PostgreSQL
    it locks the tables until the commit. ``workers``: processes that validate (default:
    :data:`MAX_WORKERS` for a file of 16 MB or more, given more than one CPU).
    """
    path = Path(path)
    report = ImportReport(file=path.name)
    try:
        fmt = fmt or detect_format(path)
        if fmt not in FORMATS:
            raise ArenaError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
        if schema is not None and schema not in SCHEMAS:
            raise ArenaError(f"unknown schema {schema!r} (use {', '.join(SCHEMAS)})")
        report.unit = record_unit(fmt)
        report.schema = schema = schema or detect_schema(file_columns(path, fmt))
        workers = _workers(path) if workers is None else workers
        with _import_connection(engine, bulk) as (conn, empty, report.bulk):
            trans = conn.begin()
            try:
                dialect = conn.dialect.name
                if dialect == "sqlite":  # the driver would run the bulk DDL outside it
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                rebuild = _drop_for_bulk(conn) if report.bulk else None
                # Should a battle arrive between the check and here, its id is a primary
                # key violation on insert: the import rolls back, nothing is lost.
                loader = _Loader(conn, report, path.name, empty=empty)
                batch: list[Row] = []
                for checked in _checked(_chunks(path, fmt, batch_size), dialect, schema, workers):
                    for item in checked:
                        report.rows += 1
                        if isinstance(item, Row):
                            batch.append(item)
                        else:
                            report.refuse(*item)
                    if len(batch) >= batch_size:
                        loader.load(batch)
                        batch = []
                    if progress:
                        progress(report.rows)
                if batch:
                    loader.load(batch)
                if rebuild:
                    rebuild()
                if report.rows and report.refused == report.rows:
                    raise ArenaError(
                        f"every row ({report.rows}) was refused: nothing to import",
                        code="import_refused",
                    )
                if strict and report.refused:
                    raise ArenaError(
                        f"{report.refused} row(s) refused and --strict is set",
                        code="import_strict",
                    )
                if dry_run:
                    trans.rollback()
                    return report
                if on_commit:
                    on_commit(conn, report)
                trans.commit()
            except BaseException:
                trans.rollback()
                raise
        report.committed = True
        return report
    except StorageError as exc:
        raise ImportFailed(f"database error, import rolled back: {exc}", report) from exc
    except ArenaError as exc:
        raise ImportFailed(f"import refused: {exc}", report) from exc
    except InvalidInputError as exc:  # the shared reader: unknown layout, unreadable file
        raise ImportFailed(f"cannot read {path}: {exc}", report) from exc
    except SQLAlchemyError as exc:
        raise ImportFailed(f"database error, import rolled back: {exc}", report) from exc
    except BrokenProcessPool as exc:
        raise ImportFailed(
            "the validating worker process stopped, import rolled back (a script that "
            'calls import_file needs an `if __name__ == "__main__":` guard)',
            report,
        ) from exc
    except (OSError, ValueError) as exc:
        # pyarrow's errors for a truncated or corrupt Parquet file are OSError/ValueError.
        raise ImportFailed(f"cannot read {path}: {exc}", report) from exc
