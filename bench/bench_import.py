"""Benchmark the import into PostgreSQL: the columnar path, the row-by-row path, and the
database's own share.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres)::

    python bench/bench_import.py EXPORT.jsonl              # the file ten times: 10x its rows
    python bench/bench_import.py EXPORT.jsonl --copies 1   # the file as it is

``EXPORT.jsonl`` is an export of this arena (``python bench/bench_export.py`` makes one of
100,000 votes in its temporary folder; ``python -m arena export --format jsonl`` any).
The file is written ``--copies`` times into a temporary folder with new battle ids, then,
in one run, each into a fresh database of its own:

* ``python -m arena import`` (the columnar path, the default) and ``python -m arena
  import --no-columnar`` (every row checked alone), each a fresh process under
  ``/usr/bin/time``: wall time, rows/s, CPU of the import and its workers, peak RSS;
* the database's share: the file's first ``--floor-rows`` rows checked first (not timed),
  then only their loading timed in this process (COPY of battles, votes, messages, then
  the rebuilt keys, indexes and foreign keys): the rows/s the server allows with no
  checking at all.

It prints a markdown table (recorded in docs/benchmarks.md, "The import's columnar path").
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("ARENA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "arena_bench_import"
TIME = re.compile(rb"BENCH ([\d.]+) ([\d.]+) ([\d.]+) (\d+)")


def fresh_database() -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"


def copies(source: Path, out: Path, n: int) -> int:
    """``source`` written ``n`` times with the first hex digits of each id changed."""
    rows = 0
    with source.open("rb") as f:
        lines = [line if line.endswith(b"\n") else line + b"\n" for line in f if line.strip()]
    with out.open("wb") as f:
        for k in range(n):
            prefix = b"%x" % (k + 1) if n > 1 else b""
            start = len(b'{"question_id":"')
            for line in lines:
                f.write(line[:start] + prefix + line[start + len(prefix) :])
            rows += len(lines)
    return rows


def timed_import(path: Path, *extra: str) -> dict[str, float]:
    url = fresh_database()
    env = {k: v for k, v in os.environ.items() if k != "ARENA_CONFIG"}
    args = ["/usr/bin/time", "-f", "BENCH %e %U %S %M", sys.executable, "-m", "arena",
            "--database-url", url, "import", *extra, str(path)]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=True)
    wall, user, system, kb = TIME.search(done.stderr).groups()
    return {"wall": float(wall), "cpu": float(user) + float(system), "mb": int(kb) / 1024}


def floor(path: Path, rows: int) -> tuple[int, float, float]:
    """The loading of the first ``rows`` rows alone: (rows, COPY s, rebuild s)."""
    from arena.db import make_engine, migrate
    from arena.import_blocks import check_block
    from arena.import_bulk import drop_for_bulk
    from arena.import_load import Loader
    from arena.import_report import ImportReport
    from arena.importer import import_connection
    from ratings.battlefile import records

    engine = make_engine(fresh_database())
    migrate(engine)
    blocks, chunk, n = [], [], 0
    for record in records(path, "jsonl"):
        chunk.append(record)
        n += 1
        if len(chunk) == 2000 or n == rows:
            blocks.append(check_block(chunk, "postgresql", "fastchat"))
            chunk = []
        if n == rows:
            break
    if chunk:
        blocks.append(check_block(chunk, "postgresql", "fastchat"))
    with import_connection(engine, None) as (conn, empty, _bulk):
        trans = conn.begin()
        start = time.perf_counter()
        rebuild = drop_for_bulk(conn)
        loader = Loader(conn, ImportReport(file=path.name), path.name, empty=empty)
        for block in blocks:
            loader.load_block(block)
        loaded = time.perf_counter()
        rebuild()
        rebuilt = time.perf_counter()
        trans.commit()
    engine.dispose()
    return n, loaded - start, rebuilt - loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", type=Path, help="a JSON-lines export of this arena")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--floor-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arena-bench-import-") as tmp:
        path = Path(tmp) / "battles.jsonl"
        n = copies(args.export, path, args.copies)
        size = path.stat().st_size / 2**20
        runs = [("columnar (the default)", timed_import(path)),
                ("`--no-columnar` (every row alone)", timed_import(path, "--no-columnar")),
                ("columnar, again", timed_import(path))]  # fmt: skip
        counted, copy_s, rebuild_s = floor(path, args.floor_rows)
    print(f"{n:,} votes ({size:,.0f} MB of JSON lines) into an empty PostgreSQL database; "
          f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| import | wall | rows/s | CPU (import + workers) | peak RSS (importing process) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in runs:
        print(f"| {name} | {r['wall']:.1f} s | {n / r['wall']:,.0f} | {r['cpu']:.1f} s "
              f"| {r['mb']:.0f} MB |")  # fmt: skip
    total = copy_s + rebuild_s
    print(f"\nThe database's share, {counted:,} votes checked first: COPY {copy_s:.2f} s, "
          f"rebuild {rebuild_s:.2f} s: {counted / total:,.0f} rows/s with no checking")  # fmt: skip


if __name__ == "__main__":
    main()
