"""A built-in study at its own budget, as a user runs it, over several seeds.

``python -m hpo.run --study STUDY --seed S`` for each seed, one after another on the whole
machine (fresh storage each), then per seed: wall time of the command, trials, the best
validation score and the held-out test (mean of the final step's seeds, and each of them);
the median over seeds.

    python bench/flagship.py --data-dir ../shared/data --study mlp --seeds 1 2 3
    python bench/flagship.py --data-dir ../shared/data --study mlp --timeout 900
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

from _common import ROOT, data_dir, record, table


def run(study: str, seed: int, data: Path, work: Path, extra: list[str]) -> dict:
    out = work / f"seed{seed}"
    command = [sys.executable, "-m", "hpo.run", "--study", study, "--seed", str(seed),
               "--storage", f"sqlite:///{work / f'seed{seed}.db'}", "--data-dir", str(data),
               "--out", str(out), *extra]
    start = time.monotonic()
    with open(work / f"seed{seed}.log", "w") as log:
        rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - start
    if rc:
        sys.exit(f"bench: seed {seed} failed (exit {rc}); see {work / f'seed{seed}.log'}")
    return summary(out, wall, work / f"seed{seed}.db", study)


def summary(out: Path, wall: float, db: Path, study: str) -> dict:
    import optuna

    best = json.loads((out / "best.json").read_text())
    trials = optuna.load_study(study_name=Path(study).stem, storage=f"sqlite:///{db}").trials
    return {"wall": wall, "trials": len(trials), "val": best["value"],
            "test": best.get("test_mean", best["test_score"]),
            "tests": best.get("test_scores", [best["test_score"]])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--study", default="mlp")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--timeout", type=float, help="--timeout for the study (default: its own)")
    args = p.parse_args(argv)
    data = data_dir(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="hpo-flagship-"))
    extra = ["--timeout", f"{args.timeout:g}"] if args.timeout else []
    rows, tests = [], []
    for seed in args.seeds:
        s = run(args.study, seed, data, work, extra)
        tests.append(s["test"])
        rows.append([seed, f"{s['wall'] / 60:.1f} min", s["trials"], f"{s['val']:.4f}",
                     f"{s['test']:.4f}", ", ".join(f"{t:.4f}" for t in s["tests"])])
        print(rows[-1], flush=True)
    rows.append(["median", "", "", "", f"{statistics.median(tests):.4f}",
                 f"lowest {min(tests):.4f}"])
    name = f"{args.study}" + (f", --timeout {args.timeout:g}" if args.timeout else
                              ", its own budget")
    command = (f"python bench/flagship.py --data-dir ../shared/data --study {args.study} "
               f"--seeds {' '.join(map(str, args.seeds))}"
               + (f" --timeout {args.timeout:g}" if args.timeout else ""))
    record(f"study {name}", command, table(
        ["seed", "wall time (whole command)", "trials", "best val", "test (mean of the final "
         "seeds)", "each final seed"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
