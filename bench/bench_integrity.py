"""How far each kind of attacker moves a target model, without and with the defences.

Honest votes are simulated from the seed's 13 ratings and battle counts
(``../shared/data/seed_arena_table.csv``: about 2,050 votes): 160 volunteers with a
heavy-tailed number of votes, personal taste (each voter's own offset per model,
sd 30 Elo) and noise (each voter's own scale of the rating differences), ties and
both-bad verdicts more likely between close models, reading times drawn from a
log-normal (a few honest votes are too fast), random abandoning (0-30 % per voter,
independent of the models), and a third of the voters behind three shared addresses
(a university's NAT). The target is Tanuki-8x8B-dpo-v1.0 (4th).

- (a) one address scripting the API with fresh voters: 1,000 attempts through the real
  app (``python app.py`` on a SQLite file, 13 models served by the loopback vLLM
  server), each ``POST /api/voters``, a battle and a vote for the target (a perfect
  identity guess) or a random verdict without it;
- (b) 20 addresses, one voter each, staying under every limit, voting for the target
  whenever it is present and abandoning the other battles (target-only rigging);
- (c) 20 addresses voting on every battle: for the target when present, against the
  three models just above it, honest-looking otherwise (omnipresent rigging);
- (d) one steering voter: 400 battles, votes only when the target is present;
- (b2), beyond the issue's list: as (b), but voting honestly on the battles without the
  target instead of abandoning them (no steering to see; only the outlier test can tell).

(b)-(d) are written to the database as the API would have stored them (within the
limits, with human reading times); every case is then recomputed by the real
``arena.recompute.recompute`` with the default rules, and the "without" figures by
the same fit over honest plus every attempted rigged vote (what the arena stored and
counted before the defences). Ranks are by rating (1 = best).

    python bench/bench_integrity.py [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.db import make_engine, migrate, repo, session_factory  # noqa: E402
from arena.db.models import Battle, BattleMode, BattleStatus, Model, Vote, Voter  # noqa: E402
from arena.integrity.screen import Rules  # noqa: E402
from arena.recompute import recompute  # noqa: E402
from arena.votecounts import screened_votes  # noqa: E402
from ratings import WINNER_CODES, leaderboard_from_counts  # noqa: E402
from tests.loopback import Behaviour, LoopbackLLM  # noqa: E402

SEED_TABLE = ROOT.parent / "shared" / "data" / "seed_arena_table.csv"
TARGET = "Tanuki-8x8B-dpo-v1.0"
ANCHOR = "Tanuki-8B-dpo-v1.0"
START = datetime(2026, 11, 1, 9, tzinfo=UTC)
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")


def seed_models() -> tuple[list[str], np.ndarray, np.ndarray]:
    with SEED_TABLE.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = [r["model"] for r in rows]
    return (
        names,
        np.array([float(r["rating"]) for r in rows]),
        np.array([float(r["battles"]) for r in rows]),
    )


@dataclass
class Sim:
    """Votes and abandoned battles to write; ``rigged`` marks the attacker's."""

    rows: list[dict] = field(default_factory=list)

    def add(
        self,
        voter: str,
        address: str,
        a: int,
        b: int,
        winner: str | None,
        when: datetime,
        read: float,
        rigged: bool,
    ) -> None:
        self.rows.append(
            dict(
                voter=voter,
                address=address,
                a=a,
                b=b,
                winner=winner,
                when=when,
                read=read,
                rigged=rigged,
            )
        )


def p_win(ra: float, rb: float) -> float:
    return 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))


def honest_verdict(rng: np.random.Generator, ra: float, rb: float, scale: float) -> str:
    p = p_win(ra * scale, rb * scale)
    tie = 0.28 * (1 - abs(2 * p - 1))  # close games end level more often
    u = rng.random()
    if u < tie:
        return "tie" if rng.random() < 0.7 else "tie (bothbad)"
    return "model_a" if rng.random() < p else "model_b"


def draw_pair(rng: np.random.Generator, weights: np.ndarray) -> tuple[int, int]:
    a, b = rng.choice(len(weights), size=2, replace=False, p=weights / weights.sum())
    return int(a), int(b)


def honest(rng: np.random.Generator, ratings: np.ndarray, battles: np.ndarray) -> Sim:
    """Volunteers who come back on a few days and vote in sessions of a few to 40 votes."""
    sim = Sim()
    n_voters, total = 160, int(battles.sum() / 2)
    share = rng.lognormal(0, 1.0, n_voters)
    per = np.clip(np.round(share / share.sum() * total), 1, 160).astype(int)
    nat = [f"nat-{k}" for k in range(3)]
    for v in range(n_voters):
        voter, scale = f"honest-{v}", rng.uniform(0.6, 1.3)
        address = nat[v % 3] if v % 3 == 0 else f"home-{v}"
        taste = rng.normal(0, 30, len(ratings))
        abandon = rng.uniform(0, 0.3)
        voted, day = 0, int(rng.integers(0, 3))
        while voted < per[v]:
            when = START + timedelta(days=day, hours=float(rng.uniform(0, 12)))
            session = min(per[v] - voted, int(rng.integers(3, 41)))
            done = 0
            while done < session:
                a, b = draw_pair(rng, battles)
                when += timedelta(seconds=float(rng.uniform(40, 400)))
                if rng.random() < abandon:
                    sim.add(voter, address, a, b, None, when, 0, False)
                    continue
                verdict = honest_verdict(rng, ratings[a] + taste[a], ratings[b] + taste[b], scale)
                read = float(rng.lognormal(np.log(25), 0.8))
                sim.add(voter, address, a, b, verdict, when, read, False)
                done += 1
            voted += done
            day += int(rng.integers(1, 3))
    return sim


def riggers(
    rng: np.random.Generator, ratings: np.ndarray, battles: np.ndarray, target: int, kind: str
) -> Sim:
    sim = Sim()
    above = [int(k) for k in np.argsort(-ratings) if ratings[k] > ratings[target]][-3:]
    plan = {"b": (20, 130), "b2": (20, 130), "c": (20, 60), "d": (1, 400)}[kind]
    for r in range(plan[0]):
        voter, address = f"rig-{kind}-{r}", f"rig-{kind}-addr-{r}"
        when = START + timedelta(hours=float(rng.uniform(0, 24 * 5)))
        for _ in range(plan[1]):
            a, b = draw_pair(rng, battles)
            when += timedelta(seconds=float(rng.uniform(60, 200)))  # under every limit
            read = float(rng.lognormal(np.log(12), 0.5))
            if target in (a, b):
                sim.add(
                    voter, address, a, b, "model_a" if a == target else "model_b", when, read, True
                )
            elif kind == "b2":  # as (b), but plays the other battles honestly (no abandoning)
                sim.add(
                    voter,
                    address,
                    a,
                    b,
                    honest_verdict(rng, ratings[a], ratings[b], 1.0),
                    when,
                    read,
                    True,
                )
            elif kind == "c":
                hit = [m for m in (a, b) if m in above]
                if hit:
                    verdict = "model_b" if hit[0] == a else "model_a"
                else:
                    verdict = honest_verdict(rng, ratings[a], ratings[b], 1.0)
                sim.add(voter, address, a, b, verdict, when, read, True)
            else:
                sim.add(voter, address, a, b, None, when, 0, True)  # abandoned
    return sim


def write(engine, names: list[str], sim: Sim, salt: str) -> None:
    """Store the simulated battles and votes as the app would have."""
    with session_factory(engine).begin() as s:
        ids = dict(s.execute(select(Model.name, Model.id)).all())
        known = dict(s.execute(select(Voter.token, Voter.id)).all())
        for row in sim.rows:
            if row["voter"] not in known:
                token = row["voter"].ljust(32, "x")
                ip_hash = repo.hash_ip(row["address"], salt)
                known[row["voter"]] = s.execute(
                    insert(Voter).values(token=token, ip_hash=ip_hash).returning(Voter.id)
                ).scalar_one()
        battles, votes = [], []
        for row in sim.rows:
            bid = secrets.token_hex(16)
            voted = row["winner"] is not None
            battles.append(
                dict(
                    id=bid,
                    voter_id=known[row["voter"]],
                    model_a_id=ids[names[row["a"]]],
                    model_b_id=ids[names[row["b"]]],
                    mode=BattleMode.ANONY,
                    status=BattleStatus.VOTED if voted else BattleStatus.ABANDONED,
                    language="ja",
                    turns=1,
                    created_at=row["when"],
                    ready_at=row["when"],
                )
            )
            if voted:
                votes.append(
                    dict(
                        battle_id=bid,
                        voter_id=known[row["voter"]],
                        winner=row["winner"],
                        created_at=row["when"] + timedelta(seconds=row["read"]),
                        seconds_to_vote=row["read"],
                        ip_hash=repo.hash_ip(row["address"], salt),
                        chars_a=600,
                        chars_b=600,
                        flag_fast=row["read"] < 1.5,
                    )
                )
        s.execute(insert(Battle), battles)
        if votes:
            s.execute(insert(Vote), votes)


def fit(names: list[str], rows: list[dict]) -> dict[str, float]:
    voted = [r for r in rows if r["winner"]]
    board = leaderboard_from_counts(
        names,
        np.array([r["a"] for r in voted]),
        np.array([r["b"] for r in voted]),
        np.array([WINNER_CODES[r["winner"]] for r in voted], dtype=np.int8),
        anchor=ANCHOR,
        on_disconnected="largest",
    )
    return {row.model: row.rating for row in board.rows}


def rank(ratings: dict[str, float], model: str) -> int:
    return 1 + sum(1 for m, r in ratings.items() if r > ratings[model])


def attack_a(stack_dir: Path, names: list[str], target: int, rng: random.Random) -> tuple:
    """1,000 scripted attempts through the real app; returns (stored, intended rows)."""
    intended, stored = [], 0
    with LoopbackLLM() as llm:
        for name in names:
            llm.set(f"served/{name}", Behaviour(tokens=5))
        toml = "".join(
            f'[[models]]\nname = "{n}"\nprovider = "vllm"\nmodel = "served/{n}"\n'
            f'base_url = "{llm.base_url}"\n\n'
            for n in names
        )
        (stack_dir / "arena.toml").write_text(toml, encoding="utf-8")
        db = stack_dir / "arena.db"
        env = {
            "DATABASE_URL": f"sqlite:///{db}",
            "ARENA_CONFIG": str(stack_dir / "arena.toml"),
            "ARENA_SECRET": "bench-secret",
            "PATH": "/usr/bin:/bin",
        }
        port = 20000 + rng.randrange(20000)
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            engine = make_engine(f"sqlite:///{db}")
            sessions = session_factory(engine)
            with httpx.Client(base_url=url, timeout=60) as client:
                for k in range(1000):
                    r = client.post("/api/voters")
                    a, b = rng.sample(range(len(names)), 2)  # what the old arena would draw
                    want = "model_a" if a == target else "model_b" if b == target else None
                    intended.append(dict(a=a, b=b, winner=want or rng.choice(WINNERS)))
                    if r.status_code != 200:
                        continue
                    voter = r.json()["voter"]
                    with client.stream(
                        "POST", "/api/battles", json={"voter": voter, "prompt": f"q{k}"}
                    ) as resp:
                        raw = resp.read().decode()
                    if resp.status_code != 200:
                        continue
                    bid = json.loads(raw.split("data: ", 1)[1].split("\n", 1)[0])["battle_id"]
                    with sessions() as s:  # the perfect identity guess
                        battle = s.get(Battle, bid)
                        side_a = battle.model_a.name
                        side_b = battle.model_b.name
                    winner = (
                        "model_a"
                        if side_a == names[target]
                        else "model_b"
                        if side_b == names[target]
                        else rng.choice(WINNERS)
                    )
                    v = client.post(
                        f"/api/battles/{bid}/vote", json={"voter": voter, "winner": winner}
                    )
                    stored += v.status_code == 200
            engine.dispose()
        finally:
            proc.terminate()
            proc.wait(10)
    return stored, intended, db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    names, ratings, battles = seed_models()
    target = names.index(TARGET)
    rng = np.random.default_rng(args.seed)
    base = honest(rng, ratings, battles)
    clean = fit(names, base.rows)
    print(
        f"honest: {sum(1 for r in base.rows if r['winner'])} votes, "
        f"{sum(1 for r in base.rows if not r['winner'])} abandoned; target {TARGET} "
        f"{clean[TARGET]:.1f} (rank {rank(clean, TARGET)})"
    )
    results = []
    for kind in ("a", "b", "b2", "c", "d"):
        with tempfile.TemporaryDirectory(prefix=f"bench-integrity-{kind}-") as tmp:
            tmp_dir = Path(tmp)
            t0 = time.perf_counter()
            if kind == "a":
                stored, intended, db = attack_a(tmp_dir, names, target, random.Random(args.seed))
                url = f"sqlite:///{db}"
                attempted = len(intended)
                without = fit(names, base.rows + intended)
            else:
                url = f"sqlite:///{tmp_dir / 'arena.db'}"
                sim = riggers(rng, ratings, battles, target, kind)
                attempted = sum(1 for r in sim.rows if r["winner"])
                stored = attempted
                without = fit(names, base.rows + sim.rows)
            engine = make_engine(url)
            migrate(engine)
            with session_factory(engine).begin() as s:
                specs = [_spec(n) for n in names]
                repo.sync_models(s, specs)
            write(engine, names, base, "bench-secret")
            if kind != "a":
                write(engine, names, sim, "bench-secret")
            run = recompute(engine, anchor=ANCHOR, rules=Rules())
            with_def = {r.model: r.rating for r in run.ratings}
            excluded = _excluded(engine)
            engine.dispose()
            results.append(
                dict(
                    kind=kind,
                    attempted=attempted,
                    stored=stored,
                    rigged_counted=excluded["rigged_counted"],
                    rigged_excluded=excluded["rigged_excluded"],
                    honest_excluded=excluded["honest_excluded"],
                    honest=excluded["honest"],
                    clean=clean[TARGET],
                    clean_rank=rank(clean, TARGET),
                    without=without[TARGET],
                    without_rank=rank(without, TARGET),
                    with_=with_def.get(TARGET, float("nan")),
                    with_rank=rank(with_def, TARGET) if TARGET in with_def else None,
                    reasons={
                        k: getattr(run, f"excluded_{k}")
                        for k in ("fast", "cap_voter", "cap_address", "steering", "outlier")
                    },
                    seconds=time.perf_counter() - t0,
                )
            )
            print(json.dumps(results[-1]), flush=True)
    report(results)


def _spec(name: str):
    from arena.config import ModelSpec

    return ModelSpec(
        name=name, provider="vllm", model=f"served/{name}", base_urls=("http://127.0.0.1:9/v1",)
    )


def _excluded(engine) -> dict[str, int]:
    """Honest and rigged votes kept or left out by the recomputation's own screening."""
    with session_factory(engine)() as s:
        votes, result, _, _ = screened_votes(s, False, Rules())
        tokens = dict(s.execute(select(Voter.id, Voter.token)).all())
        unclean = s.query(Vote).count() - len(votes.voter)
    honest = np.array([tokens[v].startswith("honest-") for v in votes.voter], dtype=bool)
    assert unclean == 0, "the simulation stores only clean votes"
    return {
        "honest": int(honest.sum()),
        "honest_excluded": int(np.count_nonzero(honest & ~result.keep)),
        "rigged_counted": int(np.count_nonzero(~honest & result.keep)),
        "rigged_excluded": int(np.count_nonzero(~honest & ~result.keep)),
    }


def report(results: list[dict]) -> None:
    print()
    print(
        "| attack | attempted | stored | rigged counted | rigged excluded | honest excluded "
        "| target without | target with | honest-only | rank without / with / honest |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        share = r["rigged_excluded"] / max(1, r["stored"])
        print(
            f"| ({r['kind']}) | {r['attempted']:,} | {r['stored']:,} | {r['rigged_counted']:,} "
            f"| {r['rigged_excluded']:,} ({share:.0%}) | {r['honest_excluded']} of "
            f"{r['honest']:,} ({r['honest_excluded'] / r['honest']:.1%}) | {r['without']:.1f} "
            f"| {r['with_']:.1f} | {r['clean']:.1f} | {r['without_rank']} / {r['with_rank']} / "
            f"{r['clean_rank']} |"
        )


if __name__ == "__main__":
    main()
