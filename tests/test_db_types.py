"""The arena's moments read back as aware UTC on both databases (arena.db.models.UTCDateTime)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from arena.db import session_factory
from arena.db.models import AppState

JST = timezone(timedelta(hours=9))


def test_moments_come_back_aware_utc_whatever_was_written(engine) -> None:
    written = {
        "aware-utc": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        "aware-jst": datetime(2026, 1, 2, 12, 4, 5, 6000, tzinfo=JST),  # the same moment
        "naive": datetime(2026, 1, 2, 3, 4, 5, 6000),  # taken as UTC
    }
    with session_factory(engine).begin() as s:
        s.add_all(AppState(key=k, value="", updated_at=v) for k, v in written.items())
    with session_factory(engine)() as s:
        read = dict(s.execute(select(AppState.key, AppState.updated_at)).all())
        newest = s.scalar(select(func.max(AppState.updated_at)))
        # A bound moment in another zone compares as the same instant.
        same = s.scalars(select(AppState.key).where(AppState.updated_at == written["aware-jst"]))
        assert set(same) == set(written)
    expected = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    for key, moment in read.items():
        assert moment == expected and moment.utcoffset() == timedelta(0), key
        assert moment.tzinfo is not None
    assert newest == expected and newest.tzinfo is not None
