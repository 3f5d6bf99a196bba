"""A lock for jobs that must not run twice at once, held in the database.

Several app processes (and the command line) share one database, so the lock is a row:
a job holds the ``job_locks`` row of its name (an INSERT; a unique violation means
another run holds it). A row older than ``stale_after`` belongs to a run that died and
is taken over (compare-and-set on the old holder, so of two runs taking over one wins);
the lock then says so in ``took_over``. The row is released only by its holder, and a
job confirms it still holds the row as the first statement of its write transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from arena.db.models import JobLock, utcnow
from arena.errors import ArenaError

logger = logging.getLogger(__name__)

#: A lock row older than this is assumed to belong to a run that died, and is taken over.
STALE_AFTER = timedelta(hours=1)

SessionFactory = sessionmaker[Session]
#: How messages name the job behind a lock.
JOB_NAMES = {"recompute": "recomputation"}


class LockError(ArenaError):
    """A job could not hold its lock; the message says why."""


class LockBusy(LockError):
    """Another run of the job holds the lock."""

    def __init__(self, name: str, holder: str, acquired_at: datetime) -> None:
        super().__init__(
            f"another {JOB_NAMES.get(name, name)} is running (lock {name!r} held by {holder} "
            f"since {acquired_at:%Y-%m-%d %H:%M:%S} UTC); not starting a second one",
            code=f"{name}_busy",
        )
        self.holder = holder
        self.acquired_at = acquired_at


class LockLost(LockError):
    """The lock was taken over (thought stale) before this run could store its results."""


@dataclass
class HeldLock:
    """The lock row this process holds; ``took_over`` describes a stale row it replaced."""

    name: str
    holder: str
    took_over: str = ""


@contextmanager
def job_lock(
    factory: SessionFactory, name: str, *, stale_after: timedelta = STALE_AFTER
) -> Iterator[HeldLock]:
    """Hold the ``job_locks`` row ``name`` for the duration of the block.

    Raises :class:`LockBusy` if a live run holds it. The row is deleted on exit only if
    it is still ours (a run that was taken over must not release its successor's lock).
    """
    lock = HeldLock(name, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    _acquire(factory, lock, stale_after)
    try:
        yield lock
    finally:
        with factory() as session, session.begin():
            session.execute(
                delete(JobLock).where(JobLock.name == name, JobLock.holder == lock.holder)
            )


def _acquire(factory: SessionFactory, lock: HeldLock, stale_after: timedelta) -> None:
    for _attempt in range(3):
        try:
            with factory() as session, session.begin():
                session.add(JobLock(name=lock.name, holder=lock.holder, acquired_at=utcnow()))
            return
        except IntegrityError:
            if _take_over_stale(factory, lock, stale_after):
                return
    raise LockError(f"could not take the {lock.name!r} lock: it keeps changing hands")


def _take_over_stale(factory: SessionFactory, lock: HeldLock, stale_after: timedelta) -> bool:
    """Take the lock if its row is stale (True); False if the row vanished (retry)."""
    with factory() as session, session.begin():
        row = session.get(JobLock, lock.name)
        if row is None:
            return False
        holder, since = row.holder, row.acquired_at
        if utcnow() - since < stale_after:
            raise LockBusy(lock.name, holder, since)
        # Compare-and-set on the old holder: of two runs taking over, one wins.
        taken = session.execute(
            update(JobLock)
            .where(JobLock.name == lock.name, JobLock.holder == holder)
            .values(holder=lock.holder, acquired_at=utcnow())
        ).rowcount
        if taken != 1:
            raise LockBusy(lock.name, holder, since)
    lock.took_over = (
        f"took over a stale lock held by {holder} since {since:%Y-%m-%d %H:%M:%S} UTC "
        f"(older than {stale_after}); that run probably died"
    )
    logger.warning("%s: %s", lock.name, lock.took_over)
    return True


def confirm_lock(session: Session, lock: HeldLock) -> None:
    # First statement of the write transaction: takes the row (PostgreSQL) or the
    # database (SQLite) for writing and proves nobody took the lock over meanwhile.
    still = session.execute(
        update(JobLock)
        .where(JobLock.name == lock.name, JobLock.holder == lock.holder)
        .values(holder=lock.holder)
    ).rowcount
    if still != 1:
        raise LockLost(
            f"the {lock.name!r} lock was taken over while this run was fitting "
            "(it ran longer than the stale limit); its results were not stored"
        )
