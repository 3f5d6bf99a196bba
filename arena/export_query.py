"""The export's rows: one query for the votes, the database writing the JSON parts.

:func:`iter_rows` reads the votes an :class:`~arena.export_schema.ExportOptions` selects,
in vote order, a chunk at a time (a server-side cursor read by a worker thread on
PostgreSQL), with the conversations, conv_metadata, feedback and categories made as JSON
text by the database itself (SQLite and PostgreSQL each get their own SQL, held to the
same output by the tests), and shapes each into a row of the export's columns.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, func, literal_column, select, true, type_coerce
from sqlalchemy.engine import Connection

from arena.categories import LANGUAGES, UNDETERMINED
from arena.dataset import conv_metadata
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Model, Vote, Voter
from arena.export_salt import check_salt, pseudonym
from arena.export_schema import LANGUAGE_NAMES, ExportError, ExportOptions

DEFAULT_CHUNK = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)  # SQLite's times: UTC, without a zone


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


json_string = json.encoder.encode_basestring  # the C encoder; keeps non-ASCII as is
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
