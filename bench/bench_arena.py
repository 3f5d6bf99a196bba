"""Arena benchmarks through the app's HTTP endpoint (Gradio's call API), as a client sees it.

Two endpoints of the app are measured: the battle API (``POST /api/battles``, server-sent
events) and the page's own Gradio event through Gradio's call API (``/gradio_api/call/
arena_send``, a POST then an event stream, as gradio_client does).

1. Time to first token: a blind battle through ``python app.py`` against the loopback
   vLLM server, versus the baseline of the same server asked directly (its own TTFT).
   Figure: median app TTFT - median direct TTFT <= 20 ms.
2. Load: 50 battles started at once, each side streaming 300 tokens at 50 tokens/s,
   versus the baseline of one battle alone. Figure: all complete, none > 1.3x solo.

    python bench/bench_arena.py [--quick]

The loopback server runs in its own process, the app in another, the clients here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MARK = "tok"  # every token of the loopback answer contains it; prompts never do

SERVER = """
import json, sys, time
from tests.loopback import Behaviour, LoopbackLLM
port, spec = int(sys.argv[1]), json.loads(sys.argv[2])
with LoopbackLLM(port=port) as server:
    for name, kw in spec.items():
        server.set(name, Behaviour(**kw))
    print("ready", flush=True)
    sys.stdin.read()
"""


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
    """Loopback server process + app process, with given token count and rate."""

    def __init__(self, tokens: int, rate: float, first_token_delay: float = 0.0) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        tmp = Path(self.tmp.name)
        llm_port, self.port = free_port(), free_port()
        self.llm_url = f"http://127.0.0.1:{llm_port}/v1"
        behaviour = {"text": " ".join(f"{MARK}{i}" for i in range(tokens)), "tokens": tokens,
                     "rate": rate, "first_token_delay": first_token_delay}  # fmt: skip
        spec = {"served-a": behaviour, "served-b": behaviour}
        self.llm = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(llm_port), json.dumps(spec)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.llm.stdout.readline().strip() == "ready"
        models = "".join(
            f'[[models]]\nname = "{n}"\nprovider = "vllm"\nbase_url = "{self.llm_url}"\n'
            f'model = "served-{n[-1].lower()}"\nmax_tokens = {tokens + 10}\n'
            for n in ("Bench-A", "Bench-B")
        )
        (tmp / "arena.toml").write_text(models)
        env = {
            **os.environ,
            "ARENA_CONFIG": str(tmp / "arena.toml"),
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "ARENA_SECRET": "bench",
        }
        self.app = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.url + "/api/health")

    def close(self) -> None:
        self.app.terminate()
        self.llm.stdin.close()
        self.app.wait(10)
        self.llm.wait(10)
        self.tmp.cleanup()


async def direct_ttft(client: httpx.AsyncClient, llm_url: str) -> float:
    """The server's own TTFT: the same streaming request, sent straight to it."""
    body = {"model": "served-a", "messages": [{"role": "user", "content": "hi"}],
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    start = time.perf_counter()
    first = None
    async with client.stream("POST", llm_url + "/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if first is None and MARK in line:
                first = time.perf_counter() - start
    assert first is not None
    return first


async def battle(client: httpx.AsyncClient, url: str, n: int) -> tuple[float, float]:
    """One blind battle through the app: (time to first token, total time)."""
    start = time.perf_counter()
    r = await client.post(
        f"{url}/gradio_api/call/arena_send", json={"data": [f"prompt {n}", f"{n:032x}"]}
    )
    r.raise_for_status()
    event_id = r.json()["event_id"]
    first = None
    done = False
    async with client.stream("GET", f"{url}/gradio_api/call/arena_send/{event_id}") as resp:
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if first is None and MARK in line:
                    first = time.perf_counter() - start
                if event == "error":
                    raise RuntimeError(f"battle {n} failed: {line[:300]}")
                if event == "complete":
                    done = True
    if not done or first is None:
        raise RuntimeError(f"battle {n} did not complete")
    return first, time.perf_counter() - start


async def battle_api(client: httpx.AsyncClient, url: str, n: int) -> tuple[float, float]:
    """One blind battle through the battle API: (time to first token, total time)."""
    start = time.perf_counter()
    first = None
    done = False
    body = {"voter": f"{n:032x}", "prompt": f"prompt {n}"}
    async with client.stream("POST", f"{url}/api/battles", json=body) as resp:
        resp.raise_for_status()
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if first is None and MARK in line:
                    first = time.perf_counter() - start
                if event == "done":
                    done = '"votable": true' in line
    if not done or first is None:
        raise RuntimeError(f"battle {n} did not complete")
    return first, time.perf_counter() - start


ENDPOINTS = {"battle API": battle_api, "Gradio call API": battle}


async def bench_ttft(rounds: int) -> dict[str, float]:
    stack = Stack(tokens=20, rate=0, first_token_delay=0.05)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for run in ENDPOINTS.values():  # warm-up
                await run(client, stack.url, 0)
            await direct_ttft(client, stack.llm_url)
            times: dict[str, list[float]] = {"direct": [], **{k: [] for k in ENDPOINTS}}
            for i in range(rounds):  # interleaved, so drift hits all alike
                times["direct"].append(await direct_ttft(client, stack.llm_url))
                for name, run in ENDPOINTS.items():
                    times[name].append((await run(client, stack.url, 1000 * i + len(name)))[0])
    finally:
        stack.close()
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


async def bench_load(n: int, tokens: int, rate: float, run) -> dict[str, float]:
    stack = Stack(tokens=tokens, rate=rate)
    try:
        limits = httpx.Limits(max_connections=2 * n + 10)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            await run(client, stack.url, 0)
            solo = statistics.median([(await run(client, stack.url, i + 1))[1] for i in range(3)])
            results = await asyncio.gather(
                *(run(client, stack.url, 100 + i) for i in range(n)), return_exceptions=True
            )
    finally:
        stack.close()
    ok = [r[1] for r in results if not isinstance(r, BaseException)]
    return {"solo_s": solo, "completed": len(ok), "n": n, "max_s": max(ok, default=float("nan")),
            "median_s": statistics.median(ok) if ok else float("nan"),
            "worst_ratio": max(ok, default=float("nan")) / solo}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 10 battles")
    args = parser.parse_args()
    ttft = asyncio.run(bench_ttft(10 if args.quick else 40))
    print("| figure | endpoint | baseline | arena | target | result |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ENDPOINTS:
        over = ttft[name] - ttft["direct"]
        print(
            f"| TTFT, median of interleaved runs | {name} | server direct {ttft['direct']:.1f} ms "
            f"| {ttft[name]:.1f} ms (+{over:.1f} ms) | <= +20 ms "
            f"| {'pass' if over <= 20 else 'FAIL'} |"
        )
    n = 10 if args.quick else 50
    for name, run in ENDPOINTS.items():
        load = asyncio.run(bench_load(n, 300, 50.0, run))
        ok = load["completed"] == n and load["worst_ratio"] <= 1.3
        print(
            f"| {n} battles at once, 2x300 tokens at 50 tok/s | {name} "
            f"| solo {load['solo_s']:.2f} s | {load['completed']}/{n} done, "
            f"median {load['median_s']:.2f} s, worst {load['max_s']:.2f} s "
            f"({load['worst_ratio']:.2f}x) | all, <= 1.3x | {'pass' if ok else 'FAIL'} |"
        )


if __name__ == "__main__":
    main()
