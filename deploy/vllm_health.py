#!/usr/bin/env python3
"""Health checks of a vLLM server for its systemd units (standard library only).

vLLM's OpenAI-compatible server answers ``GET /health`` with 200 while its engine runs
and 503 once the engine died; before the model is loaded nothing listens yet.

``wait --port P [--timeout S]``
    Poll until /health answers 200 (exit 0), or give up after S seconds (exit 1). The
    vLLM units run it as ``ExecStartPost=``: the unit becomes active (and units ordered
    after it start) only once the model answers.
``check --unit UNIT [--failures N]``
    For ``tanuki-vllm-health@UNIT.timer``: when UNIT is active, ask /health on the port
    its ``ExecStartPost=`` waits on; after N failed tries in a row, restart UNIT (exit 1).
    A unit still starting (activating) is left alone.

Installed as /usr/local/bin/tanuki-vllm-health (see deploy/README.md).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request


def healthy(host: str, port: int, timeout: float = 10.0) -> bool:
    """True when ``GET http://host:port/health`` answers 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait(host: str, port: int, timeout: float, interval: float = 2.0) -> bool:
    """Poll /health until it answers 200; False when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if healthy(host, port, timeout=min(10.0, max(interval, 1.0))):
            return True
        if time.monotonic() + interval > deadline:
            return False
        time.sleep(interval)


def port_of(exec_start_post: str) -> int | None:
    """The ``--port`` of this script's ``wait`` in a unit's ExecStartPost (systemctl show)."""
    found = re.search(r"tanuki-vllm-health\S*\s+wait\b[^;]*?--port[= ](\d+)", exec_start_post)
    return int(found.group(1)) if found else None


def _systemctl(*args: str) -> str:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def check(unit: str, host: str, failures: int, interval: float) -> int:
    if _systemctl("is-active", unit) != "active":
        print(f"{unit}: not active, not checked")
        return 0
    port = port_of(_systemctl("show", "--property=ExecStartPost", "--value", unit))
    if port is None:
        print(f"{unit}: no 'tanuki-vllm-health wait --port N' in ExecStartPost", file=sys.stderr)
        return 2
    for attempt in range(failures):
        if healthy(host, port):
            return 0
        if attempt + 1 < failures:
            time.sleep(interval)
    print(f"{unit}: GET /health on port {port} failed {failures} times; restarting", flush=True)
    subprocess.run(["systemctl", "restart", "--no-block", unit], check=False)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tanuki-vllm-health", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait", help="wait until /health answers 200")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--timeout", type=float, default=1800.0, help="seconds (%(default)s)")
    w.add_argument("--interval", type=float, default=2.0, help="seconds between tries")
    c = sub.add_parser("check", help="restart a unit whose /health fails")
    c.add_argument("--unit", required=True)
    c.add_argument("--failures", type=int, default=3, help="tries before a restart")
    c.add_argument("--interval", type=float, default=10.0, help="seconds between tries")
    for p in (w, c):
        p.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.command == "wait":
        if wait(args.host, args.port, args.timeout, args.interval):
            print(f"vLLM on port {args.port} is healthy", flush=True)
            return 0
        print(f"vLLM on port {args.port}: no healthy answer in {args.timeout:g} s", file=sys.stderr)
        return 1
    return check(args.unit, args.host, args.failures, args.interval)


if __name__ == "__main__":
    sys.exit(main())
