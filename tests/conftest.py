"""Shared fixtures: databases (SQLite file and PostgreSQL), the app as users launch it,
a Chromium page, and settings on a temporary database.

PostgreSQL and Chromium are real. Outside CI a missing one skips its tests with the
reason; with ``CI=true`` a missing service is a failure, never a silent skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("ARENA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CHROMIUM = os.environ.get("ARENA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = ROOT / "test-artifacts"
#: Environment for an app whose tests all come from 127.0.0.1 with many voters and
#: battles: the per-address and per-voter limits would stop such a module halfway.
OPEN_LIMITS = {
    f"ARENA_RATE_{k}": "1000/10 minutes"
    for k in ("VOTERS_PER_ADDRESS", "BATTLES_PER_ADDRESS", "TURNS_PER_ADDRESS",
              "VOTES_PER_ADDRESS", "BATTLES_PER_VOTER", "TURNS_PER_VOTER", "VOTES_PER_VOTER")
}  # fmt: skip


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout: float, what: str | Callable[[], str], interval: float = 0.05
) -> T:
    """``check()``'s first truthy value, polled every ``interval`` s; fails the test with
    ``what`` (or what it returns, e.g. a log's tail) when ``timeout`` seconds pass first:
    every wait in the tests has a deadline."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what() if callable(what) else what}")
        time.sleep(interval)
    return value


async def async_wait_until(
    check: Callable[[], T], timeout: float, what: str, interval: float = 0.01
) -> T:
    """:func:`wait_until` inside a test's event loop: the loop runs while it waits."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)
    return value


#: Command lines run in this process by :func:`python` (module -> its ``main(argv)``).
IN_PROCESS = {"arena": "arena.cli", "ratings": "ratings.cli"}


def python(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    stdin: str = "",
    timeout: float = 120,
    fresh: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` as a user runs it, with its exit code, stdout and stderr.

    ``-m arena`` and ``-m ratings`` run their ``main(argv)`` in this process (no new
    interpreter and imports per call): with exactly ``env`` as the environment, ``cwd`` as
    the working folder and ``stdin`` as input, ``SystemExit`` as the exit code, and an
    uncaught exception as exit code 1 with its traceback on stderr, as Python prints it.
    The garbage collector's settings, which an import or export changes for its batch
    run, are put back. Anything else (``app.py``, another module), and everything when
    ``fresh``, runs as a new interpreter, within ``timeout`` seconds.
    """
    import gc
    import importlib
    import io
    import traceback

    if fresh or len(args) < 2 or args[0] != "-m" or args[1] not in IN_PROCESS:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=dict(env), input=stdin,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    main = importlib.import_module(IN_PROCESS[args[1]]).main
    streams = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="") for _ in "oe"]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_std, saved_gc = (sys.stdin, sys.stdout, sys.stderr), gc.get_threshold()
    code: object = 0
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        sys.stdout, sys.stderr = streams
        code = main(list(args[2:]))
    except SystemExit as exc:
        code = exc.code
    except Exception:
        traceback.print_exc(file=streams[1])
        code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_std
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        gc.unfreeze()
        gc.set_threshold(*saved_gc)
    if isinstance(code, str):  # sys.exit("message"): the message on stderr, exit code 1
        print(code, file=streams[1])
        code = 1
    out, err = (_read(s) for s in streams)
    return subprocess.CompletedProcess([sys.executable, *args], int(code or 0), out, err)


def _read(stream) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", errors="replace")


#: Launches of an app before a test gives up finding it a free port.
PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- databases ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    """The PostgreSQL server's admin URL, if it answers."""
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at {url}: {exc}")
    yield url


def _create_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"arena_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arena.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    url = _create_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


@pytest.fixture
def engine(db_url: str):
    """An engine on an empty database migrated to head."""
    from arena.db import make_engine, migrate

    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


# -- model servers ------------------------------------------------------------------


@pytest.fixture(scope="session")
def loopback():
    """A loopback server speaking vLLM's (and Anthropic's, Gemini's) streaming protocol."""
    from tests.loopback import LoopbackLLM

    with LoopbackLLM() as server:
        yield server


@pytest.fixture
def llm(loopback):
    """The loopback server, reset to normal behaviour for each test."""
    loopback.reset()
    yield loopback
    loopback.reset()


# -- the app as users launch it -----------------------------------------------------


def loopback_config(base_url: str, models: dict[str, str], arena: str = "retries = 0\n") -> str:
    """An arena.toml with ``models`` (name -> served name) on the loopback vLLM server
    at ``base_url``, and ``arena`` as the [arena] section's lines."""
    parts = [f"[arena]\n{arena}"]
    for name, served in models.items():
        parts.append(
            f'[[models]]\nname = "{name}"\nprovider = "vllm"\nmodel = "{served}"\n'
            f'base_url = "{base_url}"\n'
        )
    return "\n".join(parts)


class RunningApp:
    """``python app.py`` in a subprocess on a loopback port, on its own SQLite file or on
    ``database_url``. ``first_start``: as on a machine where nothing is set yet (no
    ``ARENA_*`` variable, no secret given; run from ``tmp``)."""

    def __init__(
        self,
        tmp: Path,
        config: str = "",
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        root: Path = ROOT,
        first_start: bool = False,
    ) -> None:
        scheduled_early(CURRENT_TEST[-1] if CURRENT_TEST else None)
        self.db_path = tmp / "app.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        cfg = tmp / "arena.toml"
        cfg.write_text(config, encoding="utf-8")
        inherited = {k: v for k, v in os.environ.items() if not first_start or k[:6] != "ARENA_"}
        secret = {} if first_start else {"ARENA_SECRET": "test-secret-" + uuid.uuid4().hex}
        self.env = {
            **inherited,
            "DATABASE_URL": self.database_url,
            "ARENA_CONFIG": str(cfg),
            **secret,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log = tmp / "app.log"
        # A free port can be taken between the probe and the app's bind (by another test
        # worker's connection): then the app says so and is launched again on another.
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with self.log.open("wb") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, str(root / "app.py"), "--host", "127.0.0.1",
                     "--port", str(self.port)],
                    cwd=tmp if first_start else root, env=self.env, stdout=out,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            if self._wait():
                return
        raise RuntimeError(f"no free port in {PORT_ATTEMPTS} attempts: {self.log.read_text()}")

    def _wait(self, timeout: float = 90) -> bool:
        """True once the app answers; False if its port was taken before it bound it."""

        def answered() -> str | None:
            if self.proc.poll() is not None:
                if "address already in use" in (log := self.log.read_text()):
                    return "port taken"
                raise RuntimeError(f"app exited: {log[-2000:]}")
            try:
                ok = httpx.get(self.url + "/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            return "up" if ok else None

        def waited_for() -> str:
            return f"the app to answer on {self.url}: {self.log.read_text()[-2000:]}"

        return wait_until(answered, timeout, waited_for, interval=0.3) == "up"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ThreadServer:
    """An ASGI app served by uvicorn in a thread of the test process, on a free loopback
    port; should another process take the port before uvicorn binds it (uvicorn then
    ends its thread), on another."""

    def __init__(self, app: object, timeout: float = 60, **options: object) -> None:
        import uvicorn

        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            config = uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", **options
            )
            self.server = uvicorn.Server(config)
            self.thread = threading.Thread(target=self.server.run, daemon=True)
            self.thread.start()
            if wait_until(self._state, timeout, f"uvicorn to serve {self.url}") == "up":
                return
        raise RuntimeError(f"uvicorn found no free port in {PORT_ATTEMPTS} attempts")

    def _state(self) -> str | None:
        if self.server.started:
            return "up"
        return None if self.thread.is_alive() else "gone"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextlib.contextmanager
def app_database(request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """The database of a launched app, by ``request.param``: a SQLite file in ``tmp``, or a
    fresh PostgreSQL database (dropped afterwards; a missing server skips, or fails in CI).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp / 'app.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    url = _create_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


#: The databases every test of the running app's HTTP surface runs on.
APP_DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=APP_DATABASES)
def app_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """For a test that launches its own app: a SQLite file, then a PostgreSQL database."""
    with app_database(request, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=APP_DATABASES)
def module_app_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """For an app launched once per module: a SQLite file, then a PostgreSQL database."""
    with app_database(request, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session", params=APP_DATABASES)
def app_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """The app with its embedded defaults (demo models), launched once per database:
    on a SQLite file, then on a PostgreSQL database."""
    tmp = tmp_path_factory.mktemp("app")
    with app_database(request, tmp) as url:
        app = RunningApp(tmp, database_url=url)
        yield app
        app.stop()


# -- the browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright.

    Per module, not per session: Playwright's sync API keeps an event loop running in the
    main thread while it is open, and every pytest-asyncio test after it would fail with
    "Runner.run() cannot be called from a running event loop".
    """
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield AcceptingBrowser(b)
        b.close()


def accept_first_visit(target, version: str | None = None) -> None:
    """Every page of ``target`` (a context or a page) starts with the first-visit dialog
    accepted (``version``: of the wording, the built-in one by default)."""
    from arena.consent import BUILTIN, STORAGE_KEY

    target.add_init_script(
        f"window.localStorage.setItem({STORAGE_KEY!r}, {(version or BUILTIN)!r});"
    )


class AcceptingBrowser:
    """The browser, whose new contexts and pages have accepted the first-visit dialog, as
    a returning volunteer has; ``first_visit=True`` gives one that never saw it."""

    def __init__(self, browser) -> None:
        self.raw = browser

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def new_context(self, *, first_visit: bool = False, **kw):
        context = self.raw.new_context(**kw)
        if not first_visit:
            accept_first_visit(context)
        return context

    def new_page(self, *, first_visit: bool = False, **kw):
        page = self.raw.new_page(**kw)
        if not first_visit:
            accept_first_visit(page)
        return page


@pytest.fixture
def page(browser):
    """A fresh browser context (no stored voter token), Japanese locale, desktop size,
    whose volunteer has accepted the first-visit dialog (the built-in wording)."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests save screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def skip_reasons(page, prefix: str = "") -> None:
    """After a blind vote: the reasons step shows (names still hidden); skip it."""
    from playwright.sync_api import expect

    expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
    page.click("#vote-reasons-skip")


#: Resolves once ``selector``'s subtree has not changed for ``quiet`` ms (rejects after
#: ``limit`` ms): a MutationObserver, so it returns as soon as rendering has finished.
SETTLE_JS = """([selector, quiet, limit]) => new Promise((resolve, reject) => {
  const root = document.querySelector(selector);
  if (root === null) return reject(new Error(`no ${selector} on the page`));
  const done = () => { observer.disconnect(); clearTimeout(deadline); resolve(true); };
  let timer = setTimeout(done, quiet);
  const observer = new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(done, quiet);
  });
  const deadline = setTimeout(() => {
    observer.disconnect();
    reject(new Error(`${selector} still changing after ${limit} ms`));
  }, limit);
  observer.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
})"""


def settle(page, selector: str = "body", quiet_ms: int = 100, timeout_ms: int = 10_000) -> None:
    """Wait until the page's ``selector`` stops changing (rendering, toasts, late math),
    failing after ``timeout_ms``."""
    page.evaluate(SETTLE_JS, [selector, quiet_ms, timeout_ms])


# -- markers ------------------------------------------------------------------------

#: Fixtures that start Chromium, and the parameter values that mean PostgreSQL.
BROWSER_FIXTURES = {"browser", "page"}
POSTGRES_PARAMS = {"postgresql"}


#: The test being set up, run or torn down (its module's fixtures included).
CURRENT_TEST: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    CURRENT_TEST.append(item)
    try:
        return (yield)
    finally:
        CURRENT_TEST.pop()


def scheduled_early(item: pytest.Item | None) -> None:
    """Fail a test that launches an app without being scheduled early in a parallel run:
    its module must be marked ``browser`` (by its fixtures) or ``processes`` (by hand)."""
    if item and not any(item.get_closest_marker(m) for m in ("browser", "processes")):
        pytest.fail(
            f"{item.nodeid} launches an app: mark its module `pytestmark ="
            " pytest.mark.processes` so that a parallel run starts it early"
            " (conftest.heaviest_modules_first)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by what it needs, from its fixtures, so ``-m`` selects them all:
    ``browser`` (Chromium) and ``postgres`` (a PostgreSQL server, directly or through a
    database parameter)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        params = set(map(str, callspec.params.values())) if callspec else set()
        if "pg_admin" in names or params & POSTGRES_PARAMS:
            item.add_marker(pytest.mark.postgres)
    items[:] = heaviest_modules_first(items)


def heaviest_modules_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The modules with browser tests first, then those that launch processes (marked
    ``processes``), then those with PostgreSQL tests, the rest last; larger modules first
    within each. The parallel run (tests/run.sh) hands whole
    modules to its workers in this order, so the long ones do not start last and leave
    one worker running alone. The tests within a module keep their order."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(group: list[pytest.Item]) -> tuple[bool, bool, bool, int]:
        return (
            any(item.get_closest_marker("browser") for item in group),
            any(item.get_closest_marker("processes") for item in group),
            any(item.get_closest_marker("postgres") for item in group),
            len(group),
        )

    ordered = sorted(modules.values(), key=weight, reverse=True)  # stable for equal weights
    return [item for group in ordered for item in group]
