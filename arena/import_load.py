"""Writing an import's rows: the fastest insert each database has, the loader that
stores validated rows (one at a time from :mod:`arena.import_rows`, or a block's arrays
from :mod:`arena.import_columns`). What a bulk load does around the rows is in
:mod:`arena.import_bulk`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    DateTime,
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
from sqlalchemy.types import TypeDecorator

from arena.db.engine import dialect_insert
from arena.db.models import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Reaction,
    Vote,
    Voter,
    VoteReason,
    utcnow,
)
from arena.errors import StorageError
from arena.import_blocks import Block, joined
from arena.import_bulk import reserve_ids
from arena.import_columns import array_of, category_rows
from arena.import_report import ImportReport
from arena.import_rows import (
    Row,
    voter_token,
)

IMPORTED_PROVIDER = "imported"
#: Flags a file can carry that become ``battles.flag_moderation``.
MODERATION = frozenset({"moderation", "toxic_chat"})


BATTLE_COLUMNS = (
    "id", "voter_id", "model_a_id", "model_b_id", "mode", "status", "language", "turns",
    "flag_identity", "flag_moderation", "created_at", "ready_at", "source_id", "meta",
    "prompt_source", "prompt_language",
)  # fmt: skip
CATEGORY_COLUMNS = ("battle_id", "category")
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


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes | memoryview
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


def insert_table(conn: Connection, table: Table, columns: Sequence[Any]) -> None:
    """Insert Arrow columns, in the order of the importer's column list for ``table``, as
    :func:`bulk_insert`'s rows (SQLite and other databases; PostgreSQL takes COPY text)."""
    names = {"battles": BATTLE_COLUMNS, "votes": VOTE_COLUMNS, "messages": MESSAGE_COLUMNS,
             "battle_categories": CATEGORY_COLUMNS}  # fmt: skip
    rows = list(zip(*(column.to_pylist() for column in columns), strict=True))
    bulk_insert(conn, table, names[table.name], rows)


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
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes | memoryview
) -> None:
    dialect = conn.dialect.name
    names = ", ".join(columns)
    if dialect == "postgresql" and isinstance(rows, bytes | memoryview):
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


class Loader:
    """Inserts validated rows batch by batch on one connection (one transaction)."""

    def __init__(
        self,
        conn: Connection,
        report: ImportReport,
        source: str,
        *,
        empty: bool = False,
        bulk: bool = False,
    ) -> None:
        self.conn, self.report, self.source = conn, report, source
        # Into an empty database, the battle ids taken so far (as integers: 32 hex digits)
        # answer the duplicate check without a query per batch.
        self.seen: set[int] | None = set() if empty else None
        self.models: dict[str, int] = dict(conn.execute(select(Model.name, Model.id)).all())
        self.voters: dict[str, int] = {}
        # A bulk load on PostgreSQL holds its tables exclusively (drop_for_bulk): the ids
        # of the votes and messages it copies can be taken from their sequences at once.
        self.own_ids = bulk and conn.dialect.name == "postgresql"

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

    def _taken(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` (distinct) are already stored, counted as duplicates; the
        others are taken from now on."""
        if self.seen is None:
            existing = set(self.conn.scalars(select(Battle.id).where(self._among(Battle.id, ids))))
        else:  # the database had no battles: only this import's own ids can repeat
            existing = {i for i in ids if int(i, 16) in self.seen}
            self.seen.update(int(i, 16) for i in ids if i not in existing)
        self.report.duplicates += len(existing)
        return existing

    def load(self, batch: list[Row]) -> None:
        if not batch:
            return
        fresh: dict[str, Row] = {}
        for row in batch:
            if row.id in fresh:
                self.report.duplicates += 1
            else:
                fresh[row.id] = row
        existing = self._taken(fresh)
        rows = [r for r in fresh.values() if r.id not in existing]
        if not rows:
            return
        self._model_ids({r.model_a for r in rows} | {r.model_b for r in rows})
        self._voter_ids({r.judge for r in rows})
        battles, votes, messages, reasons, reactions, tags = [], [], [], [], [], []
        copy_text = self.conn.dialect.name == "postgresql"
        for r in rows:
            voter, at = self.voters[r.judge], r.at
            mode = ANONY if r.anony else NAMED
            ids = (self.models[r.model_a], self.models[r.model_b])
            identity, moderation = "identity" in r.flags, bool(MODERATION.intersection(r.flags))
            battles.append(
                (r.id, voter, *ids, mode, VOTED, r.language, r.turns, identity, moderation,
                 at, at, r.source_id, r.meta, r.feedback.prompt_source,
                 r.feedback.prompt_language)
            )  # fmt: skip
            self.report.flagged.update(r.flags)
            votes.append((r.id, voter, r.winner, None, at, False, None, r.feedback.comment))
            if r.feedback.reasons or r.feedback.reactions:  # (an export's rows, some of them)
                reasons += [(r.id, side, tag) for side, tag in r.feedback.reasons]
                reactions += [(r.id, *reaction, at) for reaction in r.feedback.reactions]
            tags += [(r.id, category) for category in r.feedback.categories]
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
        bulk_insert(self.conn, BattleCategory.__table__, CATEGORY_COLUMNS, tags)
        self.report.imported += len(rows)

    def load_block(self, block: Block) -> None:
        """A block's plain rows, as :mod:`arena.import_columns` made them (distinct ids;
        no flags, reasons or reactions). On PostgreSQL the worker wrote their COPY text
        but for the voter and model ids, put in here; elsewhere they are Arrow tables."""
        battles, messages = block.battles, block.messages
        if battles is None:
            return
        existing = self._taken(battles.column("id").to_pylist())
        if existing:
            taken = pa.array(sorted(existing))
            battles = battles.filter(pc.invert(pc.is_in(battles["id"], taken)))
            if messages is not None:
                messages = messages.filter(pc.invert(pc.is_in(messages["battle_id"], taken)))
        if not battles.num_rows:
            return
        names = pa.chunked_array([*battles["model_a"].chunks, *battles["model_b"].chunks])
        self._model_ids(set(pc.unique(names).to_pylist()))
        judges = battles["judge"].to_pylist()
        self._voter_ids(set(judges))
        voter = pa.array([self.voters[j] for j in judges], pa.int64())
        a, b = (
            pa.array([self.models[m] for m in battles[side].to_pylist()], pa.int64())
            for side in ("model_a", "model_b")
        )
        if messages is None:
            self._copy_lines(battles, voter, a, b)
        else:
            self._insert_tables(battles, messages, voter, a, b)
        self.report.imported += battles.num_rows

    def _copy_lines(self, battles: pa.Table, voter: pa.Array, a: pa.Array, b: pa.Array) -> None:
        ids, voter_text = battles["id"].combine_chunks(), pc.cast(voter, pa.string())
        tails = (battles["battle_tail"].combine_chunks(), battles["vote_tail"].combine_chunks())
        lines = pc.binary_join_element_wise(
            ids, voter_text, pc.cast(a, pa.string()), pc.cast(b, pa.string()), tails[0], "\t"
        )
        bulk_insert(self.conn, Battle.__table__, BATTLE_COLUMNS, joined(lines))
        lines = pc.binary_join_element_wise(ids, voter_text, tails[1], "\t")
        self._copy(Vote.__table__, VOTE_COLUMNS, lines)
        lines = pc.list_flatten(array_of(battles["messages"]))
        self._copy(Message.__table__, MESSAGE_COLUMNS, lines)
        tags = joined(battles["category_lines"])
        bulk_insert(self.conn, BattleCategory.__table__, CATEGORY_COLUMNS, tags)

    def _copy(self, table: Table, columns: Sequence[str], lines: pa.Array) -> None:
        """COPY text ``lines`` into ``table``; in a bulk load with their ids (the table's
        sequence would otherwise be asked once per row, about 0.8 us each)."""
        if self.own_ids and len(lines):
            first = reserve_ids(self.conn, table, len(lines))
            given = pc.cast(pa.array(np.arange(first, first + len(lines))), pa.string())
            lines, columns = pc.binary_join_element_wise(given, lines, "\t"), ("id", *columns)
        bulk_insert(self.conn, table, columns, joined(lines))

    def _insert_tables(
        self, battles: pa.Table, messages: pa.Table, voter: pa.Array, a: pa.Array, b: pa.Array
    ) -> None:
        n = battles.num_rows
        at, no, nothing = battles["at"], pa.repeat(False, n), pa.nulls(n, pa.string())
        columns = {
            "id": battles["id"], "voter_id": voter, "model_a_id": a, "model_b_id": b,
            "mode": battles["mode"], "status": pa.repeat(VOTED, n),
            "language": battles["language"], "turns": battles["turns"], "flag_identity": no,
            "flag_moderation": no, "created_at": at, "ready_at": at,
            "source_id": battles["source_id"], "meta": battles["meta"],
            "prompt_source": battles["prompt_source"],
            "prompt_language": battles["prompt_language"],
        }  # fmt: skip
        insert_table(self.conn, Battle.__table__, [columns[c] for c in BATTLE_COLUMNS])
        columns = {
            "battle_id": battles["id"], "voter_id": voter, "winner": battles["winner"],
            "seconds_to_vote": pa.nulls(n, pa.float64()), "created_at": at, "voided": no,
            "void_reason": nothing, "comment": battles["comment"],
        }  # fmt: skip
        insert_table(self.conn, Vote.__table__, [columns[c] for c in VOTE_COLUMNS])
        insert_table(self.conn, Message.__table__, [messages[c] for c in MESSAGE_COLUMNS])
        insert_table(self.conn, BattleCategory.__table__, category_rows(battles))
