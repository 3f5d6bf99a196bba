"""Rate limits per voter and per address, on every storage: memory, a SQLite file, a real
PostgreSQL database and a real Redis; many threads and two processes sharing one limit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from arena.config import Settings, demo_models, load_settings
from arena.db import make_engine, migrate
from arena.db.models import RateCounter
from arena.errors import ConfigError, StorageError
from arena.integrity.limits import (
    ACTIONS,
    DatabaseStorage,
    Limits,
    RateLimited,
    check_rules,
    storage_kind,
)
from tests.conftest import (
    _create_pg_database,
    _drop_pg_database,
    free_port,
    unavailable,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("ARENA_TEST_REDIS", "redis://127.0.0.1:6379/0")
BASE = Settings(models=demo_models(), secret="test")
#: Every rule lenient, so that a test states only the rules it exercises.
LENIENT = {
    "rate_voters_per_address": "1000/hour",
    "rate_battles_per_voter": "1000/hour",
    "rate_battles_per_address": "1000/hour",
    "rate_turns_per_voter": "1000/hour",
    "rate_turns_per_address": "1000/hour",
    "rate_votes_per_voter": "1000/hour",
    "rate_votes_per_address": "1000/hour",
}
STORAGES = ["memory", "sqlite", "postgresql", "redis"]

MakeLimits = Callable[..., Limits]


def refusal(limits: Limits, action: str, **who: str) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        limits.hit(action, **who)
    return caught.value


# -- storages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'arena.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pg_engine(pg_admin: str) -> Iterator[Engine]:
    url = _create_pg_database(pg_admin)
    engine = make_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        _drop_pg_database(pg_admin, url)


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def storage_settings(request: pytest.FixtureRequest, kind: str) -> tuple[Settings, Engine | None]:
    """Settings (and the engine) putting the counters on ``kind``."""
    if kind == "memory":
        return dataclasses.replace(BASE, limits_storage="memory"), None
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        return dataclasses.replace(BASE, limits_storage="redis", redis_url=url), None
    engine = request.getfixturevalue("sqlite_engine" if kind == "sqlite" else "pg_engine")
    url = engine.url.render_as_string(hide_password=False)
    return dataclasses.replace(BASE, limits_storage="database", database_url=url), engine


@pytest.fixture(params=STORAGES)
def make(request: pytest.FixtureRequest) -> Iterator[MakeLimits]:
    """Build Limits on one storage with a prefix of this test's own; clean up after."""
    settings, engine = storage_settings(request, request.param)
    prefix = f"test{uuid.uuid4().hex[:12]}"
    made: list[Limits] = []

    def build(**rules: str) -> Limits:
        limits = Limits(
            dataclasses.replace(settings, **{**LENIENT, **rules}), engine, prefix=prefix
        )
        made.append(limits)
        return limits

    yield build
    for limits in made:
        limits.reset()


# -- the rules ---------------------------------------------------------------------------


def test_the_hit_after_the_limit_is_refused_with_a_retry_after(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="5/minute")
    for _ in range(5):
        limits.hit("vote", voter="v1")
    refused = refusal(limits, "vote", voter="v1")
    assert refused.code == "rate_limited"
    assert (refused.action, refused.scope) == ("vote", "voter")
    assert 55 <= refused.retry_after <= 60
    assert refused.params == {
        "action": "vote",
        "scope": "voter",
        "retry_after": refused.retry_after,
    }
    limits.hit("vote", voter="v2")  # another voter has a budget of their own
    limits.hit("battle", voter="v1")  # and so has another action


def test_voter_and_address_scopes_are_counted_apart(make: MakeLimits) -> None:
    limits = make(rate_turns_per_voter="2/minute", rate_turns_per_address="3/minute")
    limits.hit("turn", voter="v1", address="a1")
    limits.hit("turn", voter="v1", address="a1")
    assert refusal(limits, "turn", voter="v1", address="a2").scope == "voter"
    limits.hit("turn", voter="v2", address="a1")  # a1's third
    assert refusal(limits, "turn", voter="v3", address="a1").scope == "address"
    limits.hit("turn", voter="v3", address="a2")
    limits.hit("turn", address="a2")  # a scope not given is not counted
    limits.hit("turn", address="a2")
    assert refusal(limits, "turn", address="a2").scope == "address"
    limits.hit("turn", voter="v3")


def test_new_voters_are_limited_per_address_only(make: MakeLimits) -> None:
    limits = make(rate_voters_per_address="2/hour")
    for _ in range(5):
        limits.hit("voter", voter="v1")  # there is no per-voter rule for new voters
    limits.hit("voter", address="a1")
    limits.hit("voter", voter="v1", address="a1")
    refused = refusal(limits, "voter", address="a1")
    assert (refused.scope, refused.action) == ("address", "voter")
    assert 3500 <= refused.retry_after <= 3600
    limits.hit("voter", address="a2")


def test_a_refused_call_counts_nothing(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="1/minute", rate_votes_per_address="3/minute")
    limits.hit("vote", voter="v1", address="a1")
    for _ in range(5):
        assert refusal(limits, "vote", voter="v1", address="a1").scope == "voter"
    limits.hit("vote", voter="v2", address="a1")  # the refusals left a1 its budget
    limits.hit("vote", voter="v3", address="a1")
    assert refusal(limits, "vote", voter="v4", address="a1").scope == "address"
    limits.hit("vote", voter="v4", address="a2")  # ... and v4 its own


def test_a_call_that_loses_a_race_undoes_its_counts(
    make: MakeLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = make(rate_battles_per_voter="5/minute", rate_battles_per_address="2/minute")
    limits.hit("battle", voter="v1", address="a1")
    limits.hit("battle", voter="v2", address="a1")
    # As if another process took a1's last battle between this call's test and its hit:
    # v3 is counted, then a1 refuses, and v3's count must be taken back.
    monkeypatch.setattr(limits._limiter, "test", lambda *args, **kwargs: True)
    assert refusal(limits, "battle", voter="v3", address="a1").scope == "address"
    monkeypatch.undo()
    for address in ("b1", "b2", "b3", "b4", "b5"):
        limits.hit("battle", voter="v3", address=address)
    assert refusal(limits, "battle", voter="v3", address="b6").scope == "voter"


def test_the_longest_wait_of_the_refusing_rules_is_reported(make: MakeLimits) -> None:
    limits = make(rate_battles_per_voter="2/minute", rate_battles_per_address="2/hour")
    limits.hit("battle", voter="v1", address="a1")
    limits.hit("battle", voter="v1", address="a1")
    refused = refusal(limits, "battle", voter="v1", address="a1")
    assert refused.scope == "address"
    assert 3500 <= refused.retry_after <= 3600


def test_several_rules_in_one_setting_all_apply(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="3/hour; 2/minute")
    limits.hit("vote", voter="v1")
    limits.hit("vote", voter="v1")
    assert 55 <= refusal(limits, "vote", voter="v1").retry_after <= 60


def test_a_window_ends_after_its_period(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="2/second")
    limits.hit("vote", voter="v1")
    limits.hit("vote", voter="v1")
    assert refusal(limits, "vote", voter="v1").retry_after == 1
    started = time.monotonic()

    def new_window() -> bool:
        try:
            limits.hit("vote", voter="v1")
        except RateLimited:
            return False
        return True

    wait_until(new_window, 5, "the window to end")  # the first vote of the next window
    assert time.monotonic() - started <= 1.5  # the window was one second
    limits.hit("vote", voter="v1")
    refusal(limits, "vote", voter="v1")


def test_reset_forgets_the_counts(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="1/hour")
    limits.hit("vote", voter="v1")
    refusal(limits, "vote", voter="v1")
    limits.reset()
    limits.hit("vote", voter="v1")


async def test_ahit_counts_like_hit(make: MakeLimits) -> None:
    limits = make(rate_votes_per_address="3/minute")
    for _ in range(3):
        await limits.ahit("vote", voter="v1", address="a1")
    with pytest.raises(RateLimited) as caught:
        await limits.ahit("vote", voter="v2", address="a1")
    assert caught.value.scope == "address"


def test_many_threads_pass_exactly_the_limit(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="10/minute")
    threads = 20
    start = threading.Barrier(threads)

    def hits(_: int) -> int:
        start.wait()
        passed = 0
        for _ in range(100 // threads):
            try:
                limits.hit("vote", voter="v1")
                passed += 1
            except RateLimited:
                pass
        return passed

    with ThreadPoolExecutor(threads) as pool:
        assert sum(pool.map(hits, range(threads))) == 10


def test_hit_many_decides_as_one_call_after_another(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="2/minute", rate_votes_per_address="3/minute")
    callers = [("v1", "a1"), ("v1", "a1"), ("v1", "a1"), ("v2", "a1"), ("v3", "a1"),
               ("v3", "a2"), ("v3", "a2"), ("v3", "a3"), (None, "a2")]  # fmt: skip
    one_by_one = []
    for voter, address in callers:
        try:
            limits.hit("vote", voter=voter, address=address)
            one_by_one.append(None)
        except RateLimited as refused:
            one_by_one.append(refused.scope)
    assert one_by_one == [None, None, "voter", None, "address", None, None, "voter", None]
    limits.reset()
    batch = limits.hit_many("vote", callers)
    assert [r and r.scope for r in batch] == one_by_one
    assert all(55 <= r.retry_after <= 60 for r in batch if r is not None)
    # What the refused callers counted was taken back: a2 holds 3, a3 nothing.
    assert refusal(limits, "vote", address="a2").scope == "address"
    for voter in ("v4", "v5", "v6"):
        limits.hit("vote", voter=voter, address="a3")


def test_hit_many_in_many_threads_passes_exactly_the_limit(make: MakeLimits) -> None:
    limits = make(rate_votes_per_voter="25/minute")
    start = threading.Barrier(8)

    def batch(_: int) -> int:
        start.wait()
        results = limits.hit_many("vote", [("v1", f"a{i}") for i in range(10)])
        return sum(r is None for r in results)

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(batch, range(8))) == 25
    assert refusal(limits, "vote", voter="v1").scope == "voter"


def test_unknown_action_is_a_programming_error() -> None:
    limits = Limits(dataclasses.replace(BASE, limits_storage="memory"))
    assert set(ACTIONS) == {"voter", "battle", "turn", "vote"}
    with pytest.raises(ValueError, match="unknown rate-limited action"):
        limits.hit("login", voter="v1")


# -- several processes -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "redis"])
def test_two_processes_together_pass_exactly_the_limit(
    request: pytest.FixtureRequest, kind: str
) -> None:
    settings, engine = storage_settings(request, kind)
    job = {
        "storage": settings.limits_storage,
        "database_url": settings.database_url,
        "redis_url": settings.redis_url,
        "prefix": f"test{uuid.uuid4().hex[:12]}",
        "rule": "50/minute",
        "voter": "shared-voter",
        "hits": 100,
        "threads": 4,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "limits_worker.py"), json.dumps(job)],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            line = worker.stdout.readline().strip()
            assert line == "ready", worker.communicate(timeout=30)[1][-2000:]
        for worker in workers:  # both start their hits together
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err[-2000:]
            results.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert max(r["start"] for r in results) < min(r["end"] for r in results), "no overlap"
    assert sum(r["passed"] for r in results) == 50
    assert sum(r["refused"] for r in results) == 150
    same = Limits(
        dataclasses.replace(settings, rate_votes_per_voter="50/minute"),
        engine,
        prefix=job["prefix"],
    )
    try:
        refusal(same, "vote", voter="shared-voter")  # this process sees their counts too
    finally:
        same.reset()


# -- the database storage ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_database_keys_are_hashed_prefixed_and_short(
    request: pytest.FixtureRequest, kind: str
) -> None:
    settings, engine = storage_settings(request, kind)
    limits = Limits(settings, engine, prefix="keys")
    try:
        limits.hit("vote", voter="x" * 10_000, address="addr-hash")
        with engine.connect() as conn:
            keys = sorted(conn.execute(select(RateCounter.key)).scalars())
        assert [k.split("/")[0] for k in keys] == ["keys:vote:address", "keys:vote:voter"]
        assert all(len(k) < 120 and "x" * 10 not in k and "addr-hash" not in k for k in keys)
    finally:
        limits.reset()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_expired_rows_are_purged(request: pytest.FixtureRequest, kind: str) -> None:
    _settings, engine = storage_settings(request, kind)
    with engine.begin() as conn:
        conn.execute(insert(RateCounter).values(key="old:gone", count=3, expires_at=1.0))
    storage = DatabaseStorage(engine, key_prefix="purge", cleanup_every=1)
    try:
        assert storage.incr("k", 60) == 1
        assert storage.incr("k", 60) == 2
        with engine.connect() as conn:
            assert list(conn.execute(select(RateCounter.key, RateCounter.count))) == [
                ("purge:k", 2)
            ]
    finally:
        storage.reset()


def test_database_down_raises_storage_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    engine = make_engine(url)
    settings = dataclasses.replace(BASE, limits_storage="database", database_url=url)
    limits = Limits(settings, engine)
    assert not limits.check()
    with pytest.raises(StorageError, match=r"rate-limit counters \(database\) unavailable"):
        limits.hit("vote", voter="v1")
    engine.dispose()


def test_redis_down_raises_storage_error() -> None:
    settings = dataclasses.replace(
        BASE, limits_storage="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    limits = Limits(settings)
    assert not limits.check()
    with pytest.raises(StorageError, match=r"rate-limit counters \(redis\) unavailable"):
        limits.hit("vote", voter="v1")


# -- configuration -------------------------------------------------------------------------


def test_auto_picks_redis_then_the_database_then_memory(sqlite_engine: Engine) -> None:
    pg = "postgresql://postgres@127.0.0.1:5432/arena"
    auto = dataclasses.replace(BASE, limits_storage="auto", database_url="sqlite:///a.db")
    assert storage_kind(auto) == "memory"
    assert storage_kind(dataclasses.replace(auto, database_url=pg)) == "database"
    assert storage_kind(dataclasses.replace(auto, redis_url="redis://127.0.0.1:6379/0")) == "redis"
    assert storage_kind(dataclasses.replace(auto, limits_storage="database")) == "database"
    assert Limits(auto).storage_name == "memory"
    sqlite_url = sqlite_engine.url.render_as_string()
    database = dataclasses.replace(auto, limits_storage="database", database_url=sqlite_url)
    assert Limits(database, sqlite_engine).storage_name == "database"
    with pytest.raises(ValueError, match="needs the app's engine"):
        Limits(database)


@pytest.mark.parametrize("name", sorted(LENIENT))
@pytest.mark.parametrize("value", ["lots", "10/fortnight", "0/minute", "5/0 minutes", ""])
def test_an_invalid_rule_names_its_setting(name: str, value: str) -> None:
    settings = dataclasses.replace(BASE, **{name: value})
    with pytest.raises(ConfigError, match=re.escape(f"arena.{name} (ARENA_{name.upper()})")):
        check_rules(settings)
    with pytest.raises(ConfigError, match=re.escape(f"arena.{name}")):
        Limits(settings)


def test_an_invalid_rule_from_the_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "arena.toml"
    path.write_text('[arena]\nrate_votes_per_voter = "30 per fortnight"\n', encoding="utf-8")
    settings = load_settings(path, env={"ARENA_RATE_TURNS_PER_ADDRESS": "900/10 minutes"})
    with pytest.raises(ConfigError, match=r"arena\.rate_votes_per_voter .*'30 per fortnight'"):
        check_rules(settings)
    defaults = tmp_path / "defaults.toml"
    defaults.write_text("", encoding="utf-8")
    check_rules(load_settings(defaults, env={}))  # the defaults are valid


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"limits_storage": "disk"}, "arena.limits_storage .*expected one of"),
        ({"limits_storage": "redis"}, "'redis' needs ARENA_REDIS_URL"),
        ({"redis_url": "memcached://user:hunter2@host:11211"}, "ARENA_REDIS_URL.*'memcached'"),
        (
            {"limits_storage": "database", "database_url": "mysql://u:hunter2@h/db"},
            "PostgreSQL and SQLite only",
        ),
        ({"database_url": "not a url"}, "DATABASE_URL.*not a database URL"),
    ],
)
def test_an_unusable_storage_setting_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        check_rules(dataclasses.replace(BASE, **changes))
    assert "hunter2" not in str(caught.value)
