"""Load: many volunteers at once, through the battle API and through the page's endpoint.

Issue 12's figures, each against its baseline measured in the same run:

1. Overhead of a single battle's time to first token (both panes started), app versus the
   loopback server asked directly, interleaved: battle API and page endpoint
   (target: the page adds <= 25 ms, median).
2. ``--volunteers`` (200) battles at once, each side streaming 300 tokens at 50 tokens/s
   from loopback vLLM-protocol servers (one server process per model), then a vote each:
   - errors (target 0);
   - median time to first token of a side versus the servers' own median when the same
     number of streams is sent straight to them at once (target <= 1.3x);
   - the slowest battle versus a battle run alone (target <= 1.3x);
   - votes acknowledged (HTTP 200) versus votes stored (always equal);
   - the app's peak memory (VmHWM).
3. Votes per second through the service layer (``Arena.vote``) on PostgreSQL, for
   ``--votes`` ready battles voted at once (target >= 500/s).

    python bench/bench_load.py [--volunteers 200] [--votes 3000] [--quick]
    python bench/bench_load.py --only crowd --tokens 1 --rate 0   # battle starts alone

The page endpoint is what the page's blind tab does (``arena.ui.live``): its script
streams the turn from ``POST /api/battles``, then the Gradio event ``arena_streamed`` draws
the stored turn (one unqueued POST, as the browser sends it); the time to first token is the
stream's, the battle's total includes the drawing event. Voters are issued by the
app (``POST /api/voters``); the bench raises the per-address limits because every
volunteer here comes from 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MARK = "tok"  # every token of the loopback answer contains it; prompts never do
MODELS = ("Bench-A", "Bench-B")

SERVER = """
import json, sys
from tests.loopback import Behaviour, LoopbackLLM
port, spec = int(sys.argv[1]), json.loads(sys.argv[2])
with LoopbackLLM(port=port) as server:
    for name, kw in spec.items():
        server.set(name, Behaviour(**kw))
    print("ready", flush=True)
    sys.stdin.read()
"""

#: Every volunteer comes from 127.0.0.1 here: the per-address limits would stop the bench.
OPEN_LIMITS = {
    f"ARENA_RATE_{k}": "100000/minute"
    for k in (
        "VOTERS_PER_ADDRESS",
        "BATTLES_PER_VOTER",
        "BATTLES_PER_ADDRESS",
        "TURNS_PER_VOTER",
        "TURNS_PER_ADDRESS",
        "VOTES_PER_VOTER",
        "VOTES_PER_ADDRESS",
    )
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


class Stack:
    """One loopback server process per model, and ``python app.py`` on a SQLite file."""

    def __init__(self, tokens: int, rate: float, first_token_delay: float) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        tmp = Path(self.tmp.name)
        behaviour = {"text": " ".join(f"{MARK}{i}" for i in range(tokens)), "tokens": tokens,
                     "rate": rate, "first_token_delay": first_token_delay}  # fmt: skip
        self.servers: list[subprocess.Popen] = []
        self.llm_urls: list[str] = []
        models = ""
        for name in MODELS:
            port = free_port()
            served = f"served-{name[-1].lower()}"
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(port), json.dumps({served: behaviour})],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            self.servers.append(proc)
            url = f"http://127.0.0.1:{port}/v1"
            self.llm_urls.append(url)
            models += (
                f'[[models]]\nname = "{name}"\nprovider = "vllm"\nbase_url = "{url}"\n'
                f'model = "{served}"\nmax_tokens = {tokens + 10}\n'
            )
        (tmp / "arena.toml").write_text(models)
        self.db = tmp / "bench.db"
        self.port = free_port()
        env = {
            **os.environ,
            **OPEN_LIMITS,
            "ARENA_CONFIG": str(tmp / "arena.toml"),
            "DATABASE_URL": f"sqlite:///{self.db}",
            "ARENA_SECRET": "bench",
            "ARENA_RECOMPUTE_AT": "",
        }
        self.app = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.url + "/api/health")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.app.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stored_votes(self) -> int:
        import sqlite3

        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT count(*) FROM votes").fetchone()[0]

    def close(self) -> None:
        self.app.terminate()
        self.app.wait(20)
        for proc in self.servers:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(10)
        self.tmp.cleanup()


@dataclass
class Run:
    """One battle as a client saw it."""

    firsts: list[float]  # each side's first token, seconds from the request
    total: float  # until both answers ended
    battle_id: str | None = None


async def direct_any(client: httpx.AsyncClient, urls: list[str], i: int) -> tuple[float, float]:
    """One stream straight to a server: (time to first token, time to its end)."""
    url = urls[i % len(urls)]
    body = {"model": f"served-{'ab'[i % len(urls)]}", "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True}}  # fmt: skip
    start = time.perf_counter()
    first = None
    async with client.stream("POST", url + "/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if first is None and MARK in line:
                first = time.perf_counter() - start
    if first is None:
        raise RuntimeError("no token")
    return first, time.perf_counter() - start


async def new_voter(client: httpx.AsyncClient, url: str) -> str:
    r = await client.post(url + "/api/voters", json={})
    r.raise_for_status()
    return r.json()["voter"]


async def via_api(client: httpx.AsyncClient, url: str, voter: str, n: int) -> Run:
    """One blind battle through ``POST /api/battles`` (server-sent events)."""
    start = time.perf_counter()
    firsts: dict[str, float] = {}
    done, battle_id = False, None
    body = {"voter": voter, "prompt": f"prompt {n}"}
    async with client.stream("POST", f"{url}/api/battles", json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"battle {n}: HTTP {resp.status_code} {await resp.aread()!r}")
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "turn":
                    battle_id = data["battle_id"]
                elif event == "delta":
                    now = time.perf_counter() - start
                    for side, text in data.items():
                        if MARK in text:
                            firsts.setdefault(side, now)
                elif event == "done":
                    done = data["votable"]
                elif event == "error":
                    raise RuntimeError(f"battle {n}: {data}")
    if not done or len(firsts) != 2:
        raise RuntimeError(f"battle {n} did not complete")
    return Run(sorted(firsts.values()), time.perf_counter() - start, battle_id)


async def draw(client: httpx.AsyncClient, url: str, voter: str, outcome: str) -> httpx.Response:
    """The drawing event as the browser sends it: one unqueued POST in the page's session
    (the two states come from the session, opened when the page loaded)."""
    body = {"data": [outcome, voter, None, None], "session_hash": voter[:16]}
    return await client.post(f"{url}/gradio_api/run/arena_streamed", json=body)


async def page_load(client: httpx.AsyncClient, url: str, voter: str) -> None:
    """Open the volunteer's page session before the clock starts (the page load does it)."""
    (await draw(client, url, voter, "{}")).raise_for_status()


async def via_page(client: httpx.AsyncClient, url: str, voter: str, n: int) -> Run:
    """One blind battle as the page runs it (``arena.ui.live``): the page's script streams
    the turn from ``POST /api/battles``, then the Gradio event ``arena_streamed`` draws the
    stored turn in both panes (two requests, as gradio_client makes them)."""
    start = time.perf_counter()
    run = await via_api(client, url, voter, n)
    outcome = json.dumps({"battle_id": run.battle_id, "started": True, "prompt": f"prompt {n}"})
    r = await draw(client, url, voter, outcome)
    if r.status_code != 200:
        raise RuntimeError(f"battle {n} not drawn: HTTP {r.status_code} {r.text[:300]}")
    values = [x.get("value") if isinstance(x, dict) else x for x in r.json()["data"]]
    chats = [x for x in values if isinstance(x, list)]
    drawn = len(chats) >= 2 and all(MARK in json.dumps(c) for c in chats[:2])
    if not drawn:
        raise RuntimeError(f"battle {n}: the panes were not drawn")
    return Run(run.firsts, time.perf_counter() - start, run.battle_id)


async def vote(client: httpx.AsyncClient, url: str, voter: str, battle_id: str) -> bool:
    r = await client.post(
        f"{url}/api/battles/{battle_id}/vote",
        json={"voter": voter, "winner": random.choice(["model_a", "model_b", "tie"])},
    )
    return r.status_code == 200


ENDPOINTS = {"battle API": via_api, "page endpoint": via_page}


async def bench_single(rounds: int) -> dict[str, float]:
    """Median time until both panes started, one battle at a time, versus direct."""
    stack = Stack(tokens=20, rate=0, first_token_delay=0.05)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            voters = [await new_voter(client, stack.url) for _ in range(2 * rounds + 2)]
            for voter in voters:
                await page_load(client, stack.url, voter)
            for i, run in enumerate(ENDPOINTS.values()):  # warm-up
                await run(client, stack.url, voters[i], i)
            times: dict[str, list[float]] = {"direct": [], **{k: [] for k in ENDPOINTS}}
            for i in range(rounds):  # interleaved, so drift hits all alike
                both = await asyncio.gather(*(direct_any(client, stack.llm_urls, j)
                                              for j in range(2)))  # fmt: skip
                times["direct"].append(max(f for f, _ in both))
                for j, (name, run) in enumerate(ENDPOINTS.items()):
                    voter = voters[2 + 2 * i + j]
                    times[name].append((await run(client, stack.url, voter, 10 * i + j)).firsts[1])
    finally:
        stack.close()
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


BARE_GRADIO = """
import asyncio, socket, sys
import gradio as gr
async def answer(prompt):
    await asyncio.sleep(0.05)  # the loopback server's first-token delay
    yield "tok0"
with gr.Blocks() as demo:
    box, out = gr.Textbox(), gr.Textbox()
    box.submit(answer, box, out, api_name="answer")
demo.queue()
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=True,
            quiet=True)
print("ready", flush=True)
sys.stdin.read()
"""


async def bench_bare_gradio(rounds: int) -> float:
    """Gradio's own floor: a bare app whose one event yields once after 50 ms (median ms)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_GRADIO, str(port)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}/gradio_api/call/answer"
        times = []
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(rounds + 3):
                start = time.perf_counter()
                event_id = (await client.post(url, json={"data": ["hi"]})).json()["event_id"]
                async with client.stream("GET", f"{url}/{event_id}") as resp:
                    async for line in resp.aiter_lines():
                        if line.startswith("data:") and MARK in line:
                            if i >= 3:  # warm-up first
                                times.append(time.perf_counter() - start)
                            break
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    return statistics.median(times) * 1000


async def bench_crowd(n: int, tokens: int, rate: float, name: str) -> dict[str, float]:
    from arena.backends.pool import ShardedTransport

    run = ENDPOINTS[name]
    stack = Stack(tokens=tokens, rate=rate, first_token_delay=0.05)
    try:
        # The volunteers' side in small pools too (arena.backends.pool): one httpcore pool of
        # 400 connections spends the bench's CPU, which the app and the servers share.
        transport = ShardedTransport(2 * n + 20)
        async with httpx.AsyncClient(timeout=180, transport=transport) as client:
            voters = [await new_voter(client, stack.url) for _ in range(n + 4)]
            if name == "page endpoint":
                await asyncio.gather(*(page_load(client, stack.url, v) for v in voters))
            await run(client, stack.url, voters[-1], 0)  # warm-up
            solo = statistics.median(
                [(await run(client, stack.url, voters[-2 - i], i + 1)).total for i in range(3)]
            )
            # The servers' own first tokens at the same concurrency, straight to them.
            direct = await asyncio.gather(
                *(direct_any(client, stack.llm_urls, i) for i in range(2 * n))
            )
            results = await asyncio.gather(
                *(run(client, stack.url, voters[i], 100 + i) for i in range(n)),
                return_exceptions=True,
            )
            ok = [r for r in results if isinstance(r, Run)]
            errors = [r for r in results if not isinstance(r, Run)]
            acked = stored = 0
            if name == "battle API":  # the page votes through the same Arena.vote
                acks = await asyncio.gather(
                    *(vote(client, stack.url, voters[i], r.battle_id)
                      for i, r in enumerate(results) if isinstance(r, Run) and r.battle_id)
                )  # fmt: skip
                acked = sum(acks)
                stored = stack.stored_votes()
        rss = stack.peak_rss_mb()
    finally:
        stack.close()
    if errors:
        print(f"  {name}: first error: {errors[0]!r}", file=sys.stderr)
    sides = [f for r in ok for f in r.firsts]
    return {
        "n": n,
        "errors": len(errors),
        "solo_s": solo,
        "direct_ttft_s": statistics.median(f for f, _ in direct),
        "direct_max_s": max(t for _, t in direct),
        "ttft_s": statistics.median(sides) if sides else float("nan"),
        "ttft_p95_s": statistics.quantiles(sides, n=20)[-1] if len(sides) > 1 else float("nan"),
        "median_s": statistics.median([r.total for r in ok]) if ok else float("nan"),
        "max_s": max((r.total for r in ok), default=float("nan")),
        "acked": acked,
        "stored": stored,
        "rss_mb": rss,
    }


async def bench_votes(url: str, n: int) -> dict[str, float]:
    """Votes/s through ``Arena.vote`` on PostgreSQL, ``n`` ready battles voted at once."""
    from sqlalchemy import insert, select

    from arena.backends import build_backends, client_for
    from arena.battles import Arena, VoterRef
    from arena.config import ModelSpec, Settings
    from arena.db import make_engine, migrate, session_factory
    from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side, Voter

    engine = make_engine(url)
    migrate(engine)
    specs = tuple(
        ModelSpec(name=m, provider="vllm", model=m, base_urls=("http://127.0.0.1:9/v1",))
        for m in MODELS
    )
    settings = Settings(database_url=url, models=specs, secret="bench")
    client = client_for(settings)
    arena = Arena(settings, session_factory(engine), build_backends(specs, client))
    tokens = [secrets.token_hex(16) for _ in range(n)]
    with engine.begin() as conn:
        conn.execute(insert(Voter), [{"token": t} for t in tokens])
        ids = dict(conn.execute(select(Voter.token, Voter.id)).all())
        a, b = (arena.model_ids[m] for m in MODELS)
        ready = datetime.now(UTC) - timedelta(seconds=30)
        battles = [{"id": secrets.token_hex(16), "voter_id": ids[t], "model_a_id": a,
                    "model_b_id": b, "mode": BattleMode.ANONY, "status": BattleStatus.READY,
                    "language": "ja", "turns": 1, "ready_at": ready} for t in tokens]  # fmt: skip
        conn.execute(insert(Battle), battles)
        conn.execute(insert(Message), [
            {"battle_id": x["id"], "side": side, "turn": 1, "role": role, "content": "text"}
            for x in battles for side in (Side.A, Side.B) for role in ("user", "assistant")
        ])  # fmt: skip
    start = time.perf_counter()
    results = await asyncio.gather(
        *(arena.vote(VoterRef(t, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"), x["id"],
                     "model_a")
          for i, (t, x) in enumerate(zip(tokens, battles, strict=True))),
        return_exceptions=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    await client.aclose()
    with engine.connect() as conn:
        stored = conn.execute(Battle.__table__.select().where(
            Battle.status == BattleStatus.VOTED).with_only_columns(Battle.id)).all()  # fmt: skip
    engine.dispose()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        print(f"  votes: first error: {errors[0]!r}", file=sys.stderr)
    return {"n": n, "seconds": seconds, "per_s": n / seconds, "errors": len(errors),
            "acked": n - len(errors), "stored": len(stored)}  # fmt: skip


def pg_database() -> tuple[str, str]:
    """A throwaway database on the local PostgreSQL: (its URL, the admin URL)."""
    from sqlalchemy import create_engine, text

    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    name = f"bench_load_{secrets.token_hex(4)}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name, admin


def drop_pg(url: str, admin: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    eng.dispose()


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--votes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 rounds, 20 volunteers")
    parser.add_argument("--only", choices=["single", "crowd", "votes"], action="append")
    parser.add_argument("--endpoint", choices=list(ENDPOINTS), action="append")
    parser.add_argument("--tokens", type=int, default=300, help="crowd: tokens per answer")
    parser.add_argument("--rate", type=float, default=50.0, help="crowd: tokens/s (0: at once)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.volunteers, args.votes = 10, 20, 500
    only = set(args.only or ["single", "crowd", "votes"])
    print("| figure | endpoint | baseline | arena | target | result |")
    print("| --- | --- | --- | --- | --- | --- |")
    if "single" in only:
        ttft = asyncio.run(bench_single(args.rounds))
        for name in ENDPOINTS:
            over = ttft[name] - ttft["direct"]
            print(
                f"| one battle, both panes' first token (median of {args.rounds}) | {name} "
                f"| server direct {ttft['direct']:.1f} ms | {ttft[name]:.1f} ms "
                f"(+{over:.1f} ms) | <= +25 ms | {verdict(over <= 25)} |",
                flush=True,
            )
        floor = asyncio.run(bench_bare_gradio(args.rounds))
        print(
            f"| Gradio's floor: a bare app, one event yielding once after 50 ms (median of "
            f"{args.rounds}) | bare Gradio | 50 ms | {floor:.1f} ms (+{floor - 50:.1f} ms) "
            f"| - | - |",
            flush=True,
        )
    if "crowd" in only:
        n = args.volunteers
        for name in args.endpoint or ENDPOINTS:
            c = asyncio.run(bench_crowd(n, args.tokens, args.rate, name))
            pace = f"{args.rate:g} tok/s" if args.rate else "no pause"
            ttft_ratio = c["ttft_s"] / c["direct_ttft_s"]
            slow_ratio = c["max_s"] / c["solo_s"]
            print(
                f"| {n} volunteers at once: errors | {name} | - | {c['errors']} | 0 "
                f"| {verdict(c['errors'] == 0)} |\n"
                f"| {n} at once: time to first token, median of sides (p95) | {name} "
                f"| {2 * n} streams straight to the servers: {c['direct_ttft_s']:.3f} s "
                f"| {c['ttft_s']:.3f} s (p95 {c['ttft_p95_s']:.3f} s), {ttft_ratio:.2f}x "
                f"| <= 1.3x | {verdict(ttft_ratio <= 1.3)} |\n"
                f"| {n} at once: slowest battle, 2x{args.tokens} tokens at {pace} | {name} "
                f"| alone {c['solo_s']:.2f} s | {c['max_s']:.2f} s (median {c['median_s']:.2f} s)"
                f", {slow_ratio:.2f}x; {2 * n} streams straight to the servers: slowest "
                f"{c['direct_max_s']:.2f} s | <= 1.3x | {verdict(slow_ratio <= 1.3)} |\n"
                f"| {n} at once: app peak memory (VmHWM) | {name} | - | {c['rss_mb']:.0f} MB "
                f"| reported | - |",
                flush=True,
            )
            if name == "battle API":
                print(
                    f"| {n} at once: votes acknowledged = stored | {name} | - "
                    f"| {c['acked']} acknowledged, {c['stored']} stored | equal "
                    f"| {verdict(c['acked'] == c['stored'] == n - c['errors'])} |",
                    flush=True,
                )
    if "votes" in only:
        url, admin = pg_database()
        try:
            v = asyncio.run(bench_votes(url, args.votes))
        finally:
            drop_pg(url, admin)
        print(
            f"| votes through Arena.vote on PostgreSQL, {v['n']} at once | service layer | - "
            f"| {v['per_s']:.0f} votes/s ({v['seconds']:.2f} s), {v['errors']} errors, "
            f"{v['acked']} acknowledged, {v['stored']} stored | >= 500/s, equal "
            f"| {verdict(v['per_s'] >= 500 and v['acked'] == v['stored'])} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
