"""Benchmark ``python -m ratings fit`` on battle files of a million rows, as a whole
process, against a pandas ``read_csv`` + scipy L-BFGS-B baseline in the same run.

Run from the repository root::

    python bench/bench_interop.py                 # 1,000,000 rows, 3 runs each
    python bench/bench_interop.py --rows 200000 --repeat 1

It writes (not timed) one file of ``--rows`` battles in FastChat's clean-battle layout
(``question_id, model_a, model_b, winner, judge, turn, anony, language, tstamp``; 100
models, ties of both kinds, 2 % named battles) as CSV, JSONL and Parquet in a temporary
folder, then times each of these as a fresh subprocess (interpreter start-up and imports
included), ``--repeat`` times, and reports the median (min-max):

* ``python -m ratings fit FILE`` with sandwich intervals (targets: CSV and JSONL <= 1.5 s);
* ``python -m ratings fit FILE --ci bootstrap --rounds 100`` (targets: <= 2.5 s);
* the baseline, CSV only: a script that reads the file with ``pandas.read_csv`` (the four
  columns), keeps the anonymous rows, counts unique ``(model_a, model_b, winner)`` rows
  and fits Bradley-Terry with scipy's L-BFGS-B on them, weighted by the counts (the
  public arena method); with ``bootstrap``, 100 multinomial resamples of the counts, one
  warm-started L-BFGS-B fit each.

It checks that ours and the baseline agree (``--prior 0``: to 0.01 points) and prints a
markdown table (recorded in docs/benchmarks.md, "Interop").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = [f"model-{k:03d}" for k in range(100)]
ANCHOR = MODELS[0]
WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])
TARGETS = {"sandwich": 1.5, "bootstrap": 2.5}

BASELINE = r"""
import json, sys
import numpy as np, pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit

path, ci, anchor = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_csv(path, usecols=["model_a", "model_b", "winner", "anony"])
df = df[df["anony"]]
rows = df.groupby(["model_a", "model_b", "winner"]).size().reset_index(name="n")
models = sorted(set(rows["model_a"]) | set(rows["model_b"]))
index = {m: k for k, m in enumerate(models)}
a = rows["model_a"].map(index).to_numpy()
b = rows["model_b"].map(index).to_numpy()
y = rows["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5})
y = y.to_numpy()
n = len(models)

def fit(counts, start):
    w = counts / counts.sum()
    def f(t):
        d = t[a] - t[b]
        r = w * (expit(d) - y)
        v = -np.sum(w * (y * log_expit(d) + (1 - y) * log_expit(-d)))
        return v, np.bincount(a, r, n) - np.bincount(b, r, n)
    opts = {"gtol": 1e-9, "ftol": 1e-15, "maxiter": 10000}
    return minimize(f, start, jac=True, method="L-BFGS-B", options=opts).x

counts = rows["n"].to_numpy().astype(float)
theta = fit(counts, np.zeros(n))
if ci == "bootstrap":
    rng = np.random.default_rng(0)
    draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=100)
    boot = np.array([fit(d.astype(float), theta) for d in draws])
    spread = np.percentile(boot, [2.5, 97.5], axis=0)
elo = 400 / np.log(10) * (theta - theta[index[anchor]]) + 1000
print(json.dumps(dict(zip(models, elo.tolist()))))
"""


def write_files(folder: Path, rows: int, seed: int = 0) -> dict[str, Path]:
    """The same battles as CSV, JSONL and Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 150, len(MODELS))
    first = rng.integers(0, len(MODELS), rows)
    second = (first + rng.integers(1, len(MODELS), rows)) % len(MODELS)
    p = 1 / (1 + 10 ** ((strength[second] - strength[first]) / 400))
    u = rng.random(rows)
    tie = 0.3 * np.minimum(p, 1 - p)
    outcome = np.where(u < p - tie, 0, np.where(u < p + tie, 2, 1))
    outcome[(outcome == 2) & (rng.random(rows) < 0.3)] = 3
    names = np.array(MODELS)
    table = pa.table(
        {
            "question_id": [f"{k:032x}" for k in range(rows)],
            "model_a": names[first],
            "model_b": names[second],
            "winner": WINNERS[outcome],
            "judge": [f"arena_user_{k % 50_000}" for k in range(rows)],
            "turn": np.ones(rows, dtype=np.int64),
            "anony": rng.random(rows) >= 0.02,
            "language": np.where(rng.random(rows) < 0.7, "English", "Japanese"),
            "tstamp": 1.7e9 + np.arange(rows, dtype=np.float64),
        }
    )
    paths = {fmt: folder / f"battles.{fmt}" for fmt in ("csv", "jsonl", "parquet")}
    pcsv.write_csv(table, paths["csv"], pcsv.WriteOptions(quoting_style="needed"))
    pq.write_table(table, paths["parquet"], compression="zstd")
    with paths["jsonl"].open("w", encoding="utf-8") as f:
        for batch in table.to_batches(100_000):
            for row in batch.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return paths


def run(args: list[str], repeat: int) -> tuple[float, float, float, str]:
    """Median, min and max wall time of ``repeat`` runs of a command; its last stdout."""
    times, out = [], ""
    for _ in range(repeat):
        begin = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - begin)
        if done.returncode:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
        out = done.stdout
    return statistics.median(times), min(times), max(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-interop-") as tmp:
        paths = write_files(Path(tmp), args.rows)
        sizes = {fmt: path.stat().st_size / 1e6 for fmt, path in paths.items()}
        print(
            f"{args.rows:,} rows; files: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items())
        )
        print()
        print("| file | intervals | ours | baseline (pandas + L-BFGS-B) | target | met |")
        print("| --- | --- | ---: | ---: | --- | --- |")
        agree = {}
        for ci in ("sandwich", "bootstrap"):
            extra = ["--ci", "bootstrap", "--rounds", "100"] if ci == "bootstrap" else []
            base = None
            if "csv" in paths:
                script = [sys.executable, "-c", BASELINE, str(paths["csv"]), ci, ANCHOR]
                base = run(script, args.repeat)
            for fmt, path in paths.items():
                fit = [sys.executable, "-m", "ratings", "fit", str(path), "--anchor", ANCHOR]
                med, lo, hi, out = run([*fit, *extra, "--json", "--prior", "0"], args.repeat)
                if fmt == "csv" and base is not None:
                    theirs = json.loads(base[3])
                    ours = {r["model"]: r["rating"] for r in json.loads(out)}
                    agree[ci] = max(abs(ours[m] - theirs[m]) for m in ours)
                target = TARGETS[ci] if fmt in ("csv", "jsonl") else None
                met = "" if target is None else ("yes" if med <= target else "**no**")
                baseline = (
                    f"{base[0]:.2f} s ({base[1]:.2f}-{base[2]:.2f})"
                    if fmt == "csv" and base
                    else ""
                )
                shown_target = f"<= {target} s" if target else ""
                print(
                    f"| {fmt} | {ci} | {med:.2f} s ({lo:.2f}-{hi:.2f}) | {baseline} | "
                    f"{shown_target} | {met} |"
                )
        print()
        for ci, diff in agree.items():
            print(f"largest rating difference ours vs baseline ({ci}, prior 0): {diff:.4f}")
        print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
