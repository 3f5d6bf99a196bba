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
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import math
import os
import queue
import secrets
import stat
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import (
    Engine,
    Select,
    String,
    delete,
    func,
    insert,
    literal_column,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import Connection

from arena.categories import LANGUAGES, UNDETERMINED
from arena.dataset import conv_metadata, dataset_card, ours
from arena.db.engine import dialect_insert
from arena.db.models import (
    AppState,
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Vote,
    Voter,
)
from arena.errors import ArenaError

#: 5: each battle's prompt_language (a language name, as ``language``) and categories.
#: 4: the volunteer's feedback: reasons_a, reasons_b, comment, reactions; prompt_source.
#: 3: messages carry ``num_tokens``; conv_metadata, category_tag, flags, metadata added.
#: 2: every message carries ``finish_reason`` (1: ``{role, content}`` only).
SCHEMA_VERSION = 5
FORMATS = ("jsonl", "json", "csv", "parquet")
COLUMNS = (
    "question_id",
    "model_a",
    "model_b",
    "winner",
    "judge",
    "conversation_a",
    "conversation_b",
    "turn",
    "anony",
    "language",
    "tstamp",
    "conv_metadata",
    "category_tag",
    "flags",
    "metadata",
    "reasons_a",
    "reasons_b",
    "comment",
    "reactions",
    "prompt_source",
    "prompt_language",
    "categories",
)
#: Free text typed by people: left out together by ``--no-conversations``.
FREE_TEXT = ("conversation_a", "conversation_b", "comment")
#: The keys of each reaction in ``reactions``, in this order.
REACTION_KEYS = ("turn", "side", "value")
#: The keys of each message of ``conversation_a`` / ``conversation_b``, in this order.
MESSAGE_KEYS = ("role", "content", "finish_reason", "num_tokens")
JUDGE_PREFIX = "arena_user_"
MIN_SALT_CHARS = 16
#: Where the pseudonym salt is kept in ``app_state`` when ARENA_EXPORT_SALT is unset.
SALT_KEY = "export_salt"
#: Language codes the arena stores, spelled as the public files spell languages.
LANGUAGE_NAMES = {"ja": "Japanese", "en": "English"}
#: A cell starting with one of these is run as a formula by spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_CHUNK = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)  # SQLite's times: UTC, without a zone

Progress = Callable[[int, int], None]


class ExportError(ArenaError):
    """An export was refused or failed; nothing was left at the output path."""


def _tool_version() -> str:
    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


TOOL_VERSION = _tool_version()


def pseudonym(token: str, salt: str) -> str:
    """The voter's public ``judge`` id: stable for one salt, not reversible without it."""
    return JUDGE_PREFIX + hmac.digest(salt.encode(), token.encode(), "sha256").hex()[:24]


def check_salt(salt: str) -> None:
    """Refuse to pseudonymise with a missing or short salt."""
    if len(salt) < MIN_SALT_CHARS:
        raise ExportError(
            f"ARENA_EXPORT_SALT must be a secret of at least {MIN_SALT_CHARS} characters "
            '(e.g. the output of `python -c "import secrets; print(secrets.token_hex(32))"`), '
            "or unset to use the salt stored in the database",
            code="export_salt",
        )


def stored_salt(engine: Engine) -> str | None:
    """The pseudonym salt kept in the database (``app_state``), or None before any export."""
    with engine.connect() as conn:
        return conn.scalar(select(AppState.value).where(AppState.key == SALT_KEY))


def export_salt(engine: Engine, configured: str = "") -> str:
    """The salt that makes judge ids: ``configured`` (``ARENA_EXPORT_SALT``) when set,
    else the one stored in the database, made at random on first use.

    Every app process and command line sharing the database finds the same stored salt,
    so judge ids stay the same from one export to the next. Two processes making it at
    once insert if absent, then both read the one that won.
    """
    if configured:
        check_salt(configured)
        return configured
    if (salt := stored_salt(engine)) is not None:
        return salt
    row = {"key": SALT_KEY, "value": secrets.token_hex(32), "updated_at": datetime.now(UTC)}
    with engine.begin() as conn:
        insert_new = dialect_insert(conn.dialect.name)(AppState)
        conn.execute(insert_new.values(row).on_conflict_do_nothing())
        return conn.scalar(select(AppState.value).where(AppState.key == SALT_KEY))


def rotate_salt(engine: Engine) -> str | None:
    """Replace the stored salt with a new random one; return the previous one (None if
    there was none). Later exports give every voter a new judge id."""
    with engine.begin() as conn:
        previous = conn.scalar(
            select(AppState.value).where(AppState.key == SALT_KEY).with_for_update()
        )
        conn.execute(delete(AppState).where(AppState.key == SALT_KEY))
        conn.execute(
            insert(AppState).values(
                key=SALT_KEY, value=secrets.token_hex(32), updated_at=datetime.now(UTC)
            )
        )
    return previous


def parse_moment(value: str | None, *, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO date-time, in UTC. A bare date as an end means its whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ExportError(f"not a date: {value!r} (use YYYY-MM-DD)", code="invalid") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ExportOptions:
    """What to export. By default exactly the votes the leaderboard counts."""

    since: datetime | None = None  # vote time, inclusive
    until: datetime | None = None  # vote time, exclusive
    models: tuple[str, ...] = ()  # both sides among these; empty = all
    include_named: bool = False
    include_flagged: bool = False
    include_voided: bool = False
    conversations: bool = True

    def manifest(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] else None
        out["models"] = list(self.models)
        return out


def columns(options: ExportOptions) -> tuple[str, ...]:
    """The columns an export with ``options`` has (conversations may be left out)."""
    if options.conversations:
        return COLUMNS
    return tuple(c for c in COLUMNS if c not in FREE_TEXT)


def _query(options: ExportOptions, model_ids: dict[str, int], *, raw_time: bool = False) -> Select:
    """The votes to export. ``raw_time`` selects the vote time as stored (SQLite's text),
    sparing SQLAlchemy's per-row parsing."""
    modes = [BattleMode.ANONY, BattleMode.NAMED] if options.include_named else [BattleMode.ANONY]
    q = (
        select(
            func.coalesce(Battle.source_id, Battle.id),
            Battle.model_a_id,
            Battle.model_b_id,
            type_coerce(Battle.mode, String),
            Battle.turns,
            Battle.language,
            type_coerce(Vote.winner, String),
            type_coerce(Vote.created_at, String) if raw_time else Vote.created_at,
            Voter.token,
            Battle.flag_identity,
            Battle.flag_moderation,
            Battle.prompt_source,
            Vote.comment,
            Battle.prompt_language,
        )
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .join(Voter, Vote.voter_id == Voter.id)
        .where(
            Battle.model_b_id.is_not(None),
            Battle.status != BattleStatus.FAILED,
            Battle.mode.in_(modes),
        )
    )
    if not options.include_voided:
        q = q.where(Vote.voided.is_(False))
    if not options.include_flagged:
        q = q.where(Battle.flag_identity.is_(False), Battle.flag_moderation.is_(False))
    if options.since:
        q = q.where(Vote.created_at >= options.since)
    if options.until:
        q = q.where(Vote.created_at < options.until)
    if options.models:
        missing = sorted(set(options.models) - set(model_ids))
        if missing:
            raise ExportError(f"unknown model(s): {', '.join(missing)}", code="invalid")
        ids = [model_ids[m] for m in options.models]
        q = q.where(Battle.model_a_id.in_(ids), Battle.model_b_id.in_(ids))
    return q


class RawJson(bytes):
    """A value already encoded as JSON, in UTF-8 (a conversation): written as it is."""

    __slots__ = ()


_quote = json.encoder.encode_basestring  # the C encoder; keeps non-ASCII as is
_EMPTY = RawJson(b"[]")

# The conversations are the bulk of an export (eight messages a battle in the benchmark),
# so the database writes them: each side as one JSON array of MESSAGE_KEYS objects (the
# normalised finish reason is null for the user's messages and for answers stored without
# one; the provider's raw reason and the reasoning text stay in the database), compact,
# escaped exactly as ``json.dumps(..., ensure_ascii=False)`` escapes (a test holds both
# dialects to it), and handed over as UTF-8 bytes that go to the file without being
# decoded and encoded again.
#
# SQLite: a correlated subquery per side, on the index (battle_id, side, turn). Its rows
# are ordered in an inner subquery; SQLite does not flatten an ordered subquery into an
# aggregate (query flattener, restriction 16), so group_concat sees them in that order.
_SQLITE_SIDE = (
    "CAST('[' || coalesce((SELECT group_concat(msg, ',') FROM (SELECT json_object('role', "
    "m.role, 'content', m.content, 'finish_reason', m.finish_reason, 'num_tokens', "
    "coalesce(m.num_tokens, CASE WHEN m.role = 'assistant' THEN m.completion_tokens END, "
    "(length(CAST(m.content AS BLOB)) + 2) / 3)) AS msg FROM messages "
    "AS m WHERE m.battle_id = battles.id AND m.side = '{side}' ORDER BY m.turn, m.id)), '') "
    "|| ']' AS BLOB)"
)
# PostgreSQL: one lateral subquery reads a battle's messages once, for both sides.
_PG_MESSAGE = (
    """'{"role":' || to_json(m.role) || ',"content":' || to_json(m.content) """
    """|| ',"finish_reason":' || coalesce(to_json(m.finish_reason)::text, 'null') """
    """|| ',"num_tokens":' || coalesce(m.num_tokens, CASE WHEN m.role = 'assistant' """
    """THEN m.completion_tokens END, (octet_length(m.content) + 2) / 3) || '}'"""
)
_PG_SIDE = "string_agg({msg}, ',' ORDER BY m.turn, m.id) FILTER (WHERE m.side = '{side}')"


# battles.meta split by the database: conv_metadata as JSON text (kept as the battle's
# turns were stored, see arena.dataset), passed to the file as it is, and the other keys
# (an imported battle's), decoded only when there are any.
_SQLITE_META = (
    "json_extract(battles.meta, '$.conv_metadata')",
    "json_remove(battles.meta, '$.conv_metadata')",
)
_PG_META = (
    "(battles.meta::json -> 'conv_metadata')::text",
    "(battles.meta::jsonb - 'conv_metadata')::text",
)


def _with_meta(q: Select, dialect: str) -> Select:
    """``q`` with the battle's stored conv_metadata (JSON text) and its other meta keys."""
    return q.add_columns(
        *map(literal_column, _PG_META if dialect == "postgresql" else _SQLITE_META)
    )


# The volunteer's feedback as JSON text made by the database: each side's reason tags in
# the order given, and the reactions to answers ({turn, side, value}, by turn and side).
_SQLITE_REASONS = (
    "'[' || coalesce((SELECT group_concat(t, ',') FROM (SELECT json_quote(r.tag) AS t "
    "FROM vote_reasons AS r WHERE r.battle_id = battles.id AND r.side = '{side}' "
    "ORDER BY r.id)), '') || ']'"
)
_SQLITE_REACTIONS = (
    "'[' || coalesce((SELECT group_concat(t, ',') FROM (SELECT json_object('turn', x.turn, "
    "'side', x.side, 'value', x.value) AS t FROM reactions AS x "
    "WHERE x.battle_id = battles.id ORDER BY x.turn, x.side)), '') || ']'"
)
_PG_REASONS = (
    "'[' || coalesce((SELECT string_agg(to_json(r.tag)::text, ',' ORDER BY r.id) "
    "FROM vote_reasons AS r WHERE r.battle_id = battles.id AND r.side = '{side}'), '') || ']'"
)
_PG_REACTIONS = (
    """'[' || coalesce((SELECT string_agg('{"turn":' || x.turn || ',"side":' """
    """|| to_json(x.side)::text || ',"value":' || x.value || '}', ',' ORDER BY x.turn, x.side) """
    """FROM reactions AS x WHERE x.battle_id = battles.id), '') || ']'"""
)


def _with_feedback(q: Select, dialect: str) -> Select:
    """``q`` with reasons_a, reasons_b and reactions as JSON text."""
    pg = dialect == "postgresql"
    reasons, reactions = (
        (_PG_REASONS, _PG_REACTIONS) if pg else (_SQLITE_REASONS, _SQLITE_REACTIONS)
    )
    return q.add_columns(
        *(literal_column(reasons.format(side=side)) for side in "ab"), literal_column(reactions)
    )


# A battle's categories (arena.categories) as a JSON list made by the database, sorted.
_SQLITE_CATEGORIES = (
    "'[' || coalesce((SELECT group_concat(c, ',') FROM (SELECT json_quote(x.category) AS c "
    "FROM battle_categories AS x WHERE x.battle_id = battles.id ORDER BY x.category)), '') || ']'"
)
_PG_CATEGORIES = (
    "'[' || coalesce((SELECT string_agg(to_json(x.category)::text, ',' ORDER BY x.category) "
    "FROM battle_categories AS x WHERE x.battle_id = battles.id), '') || ']'"
)


def _with_categories(q: Select, dialect: str) -> Select:
    """``q`` with the battle's categories as JSON text."""
    return q.add_columns(
        literal_column(_PG_CATEGORIES if dialect == "postgresql" else _SQLITE_CATEGORIES)
    )


def _with_conversations(q: Select, dialect: str) -> Select:
    """``q`` with the two conversations (JSON arrays as UTF-8 bytes) as its last columns."""
    if dialect != "postgresql":
        return q.add_columns(*(literal_column(_SQLITE_SIDE.format(side=s)) for s in "ab"))
    m = Message.__table__.alias("m")
    sides = [literal_column(_PG_SIDE.format(msg=_PG_MESSAGE, side=s)).label(s) for s in "ab"]
    lateral = select(*sides).select_from(m).where(m.c.battle_id == Battle.id).lateral("conv")
    as_bytes = "convert_to('[' || coalesce(conv.{}, '') || ']', 'UTF8')"
    q = q.outerjoin(lateral, true())
    return q.add_columns(*(literal_column(as_bytes.format(s)) for s in "ab"))


def _compile(q: Select, conn: Connection) -> tuple[str, Any]:
    """SQL text and parameters of ``q``, for the connection's DB-API cursor."""
    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if compiled.positiontup is not None:
        return compiled.string, [params[name] for name in compiled.positiontup]
    return compiled.string, params


def _partitions(dbapi: Any, dialect: str, sql: str, params: Any, size: int) -> Iterator[list]:
    """The rows of ``sql``, ``size`` at a time.

    PostgreSQL: a server-side cursor in the binary protocol (bytea as is, no hex), read
    by a worker thread so that the server builds the next rows while this thread writes
    these. SQLite runs in this process: there a second thread would only contend for the
    GIL, so the rows are read inline.
    """
    if dialect != "postgresql":
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()
        return
    cursor = dbapi.cursor(name="arena_export", binary=True)
    cursor.itersize = size
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            cursor.execute(sql, params)
            while not stop.is_set() and (rows := cursor.fetchmany(size)):
                ready.put(rows)
            ready.put(done)
        except BaseException as exc:  # raised again in the consuming thread
            ready.put(exc)

    worker = threading.Thread(target=read, name="export-reader", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on a full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        cursor.close()


def iter_rows(
    conn: Connection,
    options: ExportOptions,
    salt: str,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[tuple]:
    """Yield export rows in vote order, as tuples in the order of ``columns(options)``,
    read ``chunk`` at a time in one query.

    Conversations come as :class:`RawJson` (``json.loads`` gives the list of messages).
    """
    check_salt(salt)
    names = dict(conn.execute(select(Model.id, Model.name)).all())
    dialect = conn.dialect.name
    q = _query(options, {n: i for i, n in names.items()}, raw_time=dialect == "sqlite")
    q = _with_categories(_with_feedback(_with_meta(q, dialect), dialect), dialect)
    if options.conversations:
        q = _with_conversations(q, dialect)
    sql, params = _compile(q.order_by(Vote.created_at, Vote.id), conn)
    if dialect == "postgresql":  # the plan is simple; compiling it costs more than it saves
        conn.exec_driver_sql("SET LOCAL jit = off")
    judges: dict[str, str] = {}
    for part in _partitions(conn.connection.dbapi_connection, dialect, sql, params, chunk):
        if len(judges) > 100_000:
            judges.clear()
        for bid, a, b, mode, turns, lang, winner, at, token, *rest in part:
            identity, moderation, source, comment, prompt_lang, stored, other, *rest = rest
            reasons_a, reasons_b, reactions, tags, *conversations = rest
            judge = judges.get(token)
            if judge is None:
                judge = judges[token] = pseudonym(token, salt)
            if type(at) is str:  # SQLite keeps times as ISO text in UTC (see _query)
                at = datetime.fromisoformat(at)
            tstamp = (at - (EPOCH if at.tzinfo else NAIVE_EPOCH)).total_seconds()
            kept = json.loads(other) if other and other != "{}" else {}
            flags = ["identity"] if identity else []
            if moderation:  # an imported battle keeps the source's own verdicts
                given = [f for f in kept.get("flags", ()) if f != "identity"]
                flags += given or ["moderation"]
            metadata: Any = None if stored is None else RawJson(stored.encode())
            if metadata is None and conversations:  # a battle stored before it was kept
                metadata = conv_metadata(json.loads(conversations[0]), json.loads(conversations[1]))
            tail = (
                turns, mode == "anony", LANGUAGE_NAMES.get(lang, lang), tstamp, metadata,
                kept.get("category_tag"), flags, kept.get("metadata") or {},
                _raw_list(reasons_a), _raw_list(reasons_b),
            )  # fmt: skip
            tagged = (_language_name(prompt_lang), _raw_list(tags))
            if conversations:
                conv = (RawJson(conversations[0]), RawJson(conversations[1]))
                yield (bid, names[a], names[b], winner, judge, *conv, *tail,
                       comment, _raw_list(reactions), source, *tagged)  # fmt: skip
            else:  # free text stays out: the conversations and the comment
                yield (bid, names[a], names[b], winner, judge, *tail, _raw_list(reactions),
                       source, *tagged)  # fmt: skip


def _language_name(code: str | None) -> str | None:
    """A stored prompt language as the public files spell languages (``unknown`` when
    undetermined); None for a battle not tagged yet."""
    if code is None:
        return None
    return "unknown" if code == UNDETERMINED else LANGUAGES.get(code, code)


def _raw_list(text: str | bytes) -> RawJson:
    """A JSON list the database wrote (the empty one, most rows' reasons, shared)."""
    data = text.encode() if type(text) is str else bytes(text)
    return _EMPTY if data == b"[]" else RawJson(data)


def count_rows(conn: Connection, options: ExportOptions) -> int:
    """How many rows an export with ``options`` will have."""
    names = dict(conn.execute(select(Model.name, Model.id)).all())
    return conn.scalar(select(func.count()).select_from(_query(options, names).subquery())) or 0


# -- writers ------------------------------------------------------------------------


class Writer(Protocol):
    """Writes rows to a binary file the caller opened, and closes."""

    #: The SHA-256 of what was written, when the writer computes it as it goes.
    sha256: str | None

    def write(self, row: Sequence[Any]) -> None: ...
    def finish(self) -> None:
        """Write out what is buffered; the file stays open (its owner closes it)."""


class HashingFile:
    """Writes to a binary file and hashes what goes through (sparing a second read of the
    file for the manifest)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.f.write(data)

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


def json_value(value: Any, encode: Callable[[Any], str]) -> str:
    """``value`` as ``json.dumps(value, ensure_ascii=False)`` writes it, quickly for scalars."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if not value and (kind is list or kind is dict):  # flags and metadata, mostly
        return "[]" if kind is list else "{}"
    return encode(value)


#: Columns with few distinct values: the JSONL writer encodes each value once.
REPEATING = frozenset(
    {"model_a", "model_b", "winner", "judge", "anony", "language", "turn", "prompt_source",
     "prompt_language"}
)  # fmt: skip


class JsonlWriter:
    """One JSON object per line, UTF-8, non-ASCII kept as is: what
    ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))`` writes."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        self.f = HashingFile(f)
        self.encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        # Per column: its key with the separator before it, and whether values repeat.
        self.plan = [
            ((b"{" if i == 0 else b",") + f"{_quote(c)}:".encode(), c in REPEATING)
            for i, c in enumerate(cols)
        ]
        self.encoded: dict[tuple[int, Any], bytes] = {}  # (column, value) -> key and value

    def write(self, row: Sequence[Any]) -> None:
        parts, encoded = [], self.encoded
        for column, ((key, repeating), value) in enumerate(zip(self.plan, row, strict=True)):
            if type(value) is RawJson:
                parts.append(key + value)
            elif repeating:
                both = encoded.get((column, value))
                if both is None:
                    if len(encoded) > 100_000:  # judges: a bounded cache
                        encoded.clear()
                    both = key + json_value(value, self.encode).encode()
                    encoded[column, value] = both
                parts.append(both)
            else:
                parts.append(key + json_value(value, self.encode).encode())
        parts.append(b"}\n")
        self.f.write(b"".join(parts))

    def finish(self) -> None:
        self.sha256 = self.f.hexdigest()


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with ``'``."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


class JsonWriter(JsonlWriter):
    """One JSON array of the rows (what FastChat's command line reads): each row on its
    own line as :class:`JsonlWriter` writes it, with the array's brackets and commas."""

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        super().__init__(f, cols)
        self.first = True
        self.f.write(b"[\n")

    def write(self, row: Sequence[Any]) -> None:
        if not self.first:
            self.f.write(b",\n")
        self.first = False
        real = self.f
        self.f = _NoNewline(real)  # type: ignore[assignment]
        try:
            super().write(row)
        finally:
            self.f = real

    def finish(self) -> None:
        self.f.write(b"\n]\n" if not self.first else b"]\n")
        super().finish()


class _NoNewline:
    """Passes a JSON line on without its final newline (the array's comma follows)."""

    def __init__(self, f: HashingFile) -> None:
        self.f = f

    def write(self, data: bytes) -> None:
        self.f.write(data[:-1] if data.endswith(b"\n") else data)


class CsvWriter:
    """RFC 4180 CSV with a header; formulas neutralised. Conversations and the other list
    and object columns are JSON text in their cells; a missing value is an empty cell."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        self.f = io.TextIOWrapper(f, encoding="utf-8", newline="")  # type: ignore[arg-type]
        self.w = csv.writer(self.f)
        self.w.writerow(cols)

    def write(self, row: Sequence[Any]) -> None:
        cells = []
        for value in row:
            if isinstance(value, RawJson):
                value = value.decode()
            elif value is None:
                value = ""
            elif isinstance(value, list | dict):
                value = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif not isinstance(value, str):
                value = repr(value)
            cells.append(neutralise(value))
        self.w.writerow(cells)

    def finish(self) -> None:
        self.f.flush()
        self.f.detach()  # leaves the binary file open


class ParquetWriter:
    """Parquet through pyarrow, one row group per ``group`` rows."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str], group: int = 10_000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        message = pa.struct(
            [(key, pa.int64() if key == "num_tokens" else pa.string()) for key in MESSAGE_KEYS]
        )
        counts = [pa.struct([(k, pa.int64()) for k in keys]) for keys in STYLE_KEYS]
        sides = [
            (f"{name}_{side}", kind)
            for side in "ab"
            for name, kind in zip(("header_count", "list_count", "bold_count"), counts, strict=True)
        ]
        tokens = ["sum_user_tokens", "turns", "sum_assistant_a_tokens", "context_a_tokens",
                  "sum_assistant_b_tokens", "context_b_tokens"]  # fmt: skip
        self.meta = pa.struct([*((k, pa.int64()) for k in tokens), *sides])
        types = {
            "turn": pa.int64(),
            "anony": pa.bool_(),
            "tstamp": pa.float64(),
            "conversation_a": pa.list_(message),
            "conversation_b": pa.list_(message),
            "conv_metadata": self.meta,
            "flags": pa.list_(pa.string()),
            "reasons_a": pa.list_(pa.string()),
            "reasons_b": pa.list_(pa.string()),
            "categories": pa.list_(pa.string()),
            "reactions": pa.list_(
                pa.struct([(k, pa.string() if k == "side" else pa.int64()) for k in REACTION_KEYS])
            ),
        }
        # category_tag and metadata have no fixed shape: JSON text, as LMArena 100k has.
        self.as_text = [c in ("category_tag", "metadata") for c in cols]
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in cols])
        self.writer = pq.ParquetWriter(f, self.schema, compression="zstd")  # leaves f open
        self.group = group
        self.buffer: list[list] = [[] for _ in cols]
        self.n = 0

    def write(self, row: Sequence[Any]) -> None:
        for values, value, text in zip(self.buffer, row, self.as_text, strict=True):
            if isinstance(value, RawJson):
                value = json.loads(value)
            elif text and value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            values.append(value)
        self.n += 1
        if self.n >= self.group:
            self._flush()

    def _flush(self) -> None:
        if self.n:
            batch = self.pa.record_batch(self.buffer, schema=self.schema)
            self.writer.write_batch(batch)
            for values in self.buffer:
                values.clear()
            self.n = 0

    def finish(self) -> None:
        self._flush()
        self.writer.close()


#: The nested counts of ``conv_metadata`` (header, list, bold), as LMArena spells them.
STYLE_KEYS = (("h1", "h2", "h3", "h4", "h5", "h6"), ("ordered", "unordered"), ("**", "__"))

WRITERS: dict[str, Callable[[BinaryIO, Sequence[str]], Writer]] = {
    "jsonl": JsonlWriter,
    "json": JsonWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}


# -- writing files safely -------------------------------------------------------------

#: Temporary files are hidden files in the target's folder: ``.arena-export-<random>.partial``.
TEMP_PREFIX = ".arena-export-"
_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}.partial"


def check_target(path: Path, *, force: bool = False) -> None:
    """Refuse a target the export must not write: one in a missing folder; an existing
    file unless ``force``; and, even with ``force``, anything but a regular file (a
    device, FIFO, folder, socket or symbolic link, whatever it points to)."""
    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise ExportError(f"cannot write {path}: the folder {folder} {problem}", code="export_path")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise ExportError(
            f"{path} is a symbolic link; not replacing it nor writing through it "
            "(name the file itself)",
            code="export_path",
        )
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise ExportError(f"{path} is {kind}; refusing to replace it", code="export_path")
    if not force:
        raise ExportError(
            f"{path} already exists; not replacing it without --force", code="export_exists"
        )


class StagedFile:
    """A file written under a random name in its target's folder, then renamed onto the
    target in one step (readers never see half a file).

    The name is created with ``O_EXCL | O_NOFOLLOW``: a file or symbolic link already
    there (planted by someone who can write to the folder) is never opened or followed,
    another name is drawn instead. The file is readable by its owner only.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        for _ in range(100):
            self.path = target.parent / _temp_name()
            try:
                fd = os.open(self.path, _TEMP_FLAGS, 0o600)
                break
            except FileExistsError:
                continue
        else:
            raise ExportError(f"no free temporary name in {target.parent}", code="export_io")
        self.file: BinaryIO = os.fdopen(fd, "w+b", buffering=1 << 20)

    def seal(self, sha256: str | None = None) -> tuple[int, str]:
        """Flush to disk and close; return the size and SHA-256 (``sha256`` if known)."""
        f = self.file
        f.flush()
        os.fsync(f.fileno())
        size = os.fstat(f.fileno()).st_size
        if sha256 is None:
            f.seek(0)
            h = hashlib.sha256()
            while block := f.read(1 << 20):
                h.update(block)
            sha256 = h.hexdigest()
        f.close()
        return size, sha256

    def publish(self, *, force: bool) -> None:
        """Move the file onto its target; refuse as :func:`check_target` does.

        Without ``force`` a hard link puts it there only if nothing is (atomically, even
        if a file appeared while the export ran); a file system without hard links gets
        the check and a rename. ``os.replace`` replaces a directory entry, never writes
        through one.
        """
        if not force:
            try:
                os.link(self.path, self.target, follow_symlinks=False)
            except FileExistsError:
                check_target(self.target)  # says what is there
                raise  # a race: it was gone again
            except OSError:
                pass  # no hard links here
            else:
                os.unlink(self.path)
                return
        check_target(self.target, force=force)
        os.replace(self.path, self.target)

    def discard(self) -> None:
        """Close and remove the temporary file (if still there)."""
        self.file.close()
        self.path.unlink(missing_ok=True)


# -- the export ---------------------------------------------------------------------


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
