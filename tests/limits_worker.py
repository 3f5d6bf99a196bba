"""One process hitting one rate limit, for the multi-process tests of ``test_limits.py``.

Usage: ``python tests/limits_worker.py '<json job>'`` with ``PYTHONPATH`` at the repository.
The job names the storage (``database`` or ``redis``), its URL, the key prefix, the rule
for votes per voter, the voter, and how many hits to make from how many threads. The
worker opens its storage, prints ``ready``, waits for a line on stdin (so that several
workers start together), makes its hits and prints one JSON line: passed, refused, and
when its hits started and ended.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from arena.config import Settings, demo_models
from arena.db import make_engine
from arena.integrity.limits import Limits, RateLimited


def main(job: dict) -> dict:
    settings = Settings(
        models=demo_models(),
        database_url=job["database_url"],
        redis_url=job.get("redis_url", ""),
        limits_storage=job["storage"],
        rate_votes_per_voter=job["rule"],
    )
    engine = make_engine(job["database_url"]) if job["storage"] == "database" else None
    limits = Limits(settings, engine, prefix=job["prefix"])
    if not limits.check():
        raise SystemExit(f"{job['storage']} storage does not answer")

    def one(_: int) -> bool:
        try:
            limits.hit("vote", voter=job["voter"])
        except RateLimited:
            return False
        return True

    print("ready", flush=True)
    sys.stdin.readline()
    with ThreadPoolExecutor(job["threads"]) as pool:
        start = time.time()
        passed = list(pool.map(one, range(job["hits"])))
        end = time.time()
    if engine is not None:
        engine.dispose()
    return {"passed": sum(passed), "refused": passed.count(False), "start": start, "end": end}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
