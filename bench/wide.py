"""How fast a study that sets only [data] and a wide [space] reaches 98% validation accuracy.

``bench/wide.toml`` is run as a user runs it (``python -m hpo.run``), ``--minutes`` of search
per seed with no final step, two seeds side by side, each pinned to its own core with one
thread (``taskset``), as the issue measured it. Then, per seed: trials, the best validation
accuracy, and when validation accuracy first reached 0.98 (from the first trial's start; an
epoch's time is placed by the trial's start and its share of the trial's fit time). With
``--compare FILE`` a second study file (e.g. the old defaults) runs beside each seed.

    python bench/wide.py --data-dir ../shared/data --seeds 1 2 3 --minutes 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, data_dir, record, table

BENCH = Path(__file__).resolve().parent
TARGET = 0.98


def launch(study: Path, seed: int, minutes: float, core: int, url: str, data: Path,
           out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
           "TF_NUM_INTEROP_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = ["taskset", "-c", str(core), sys.executable, "-m", "hpo.run", "--study",
               str(study), "--seed", str(seed), "--timeout", str(minutes * 60), "--trials",
               "100000", "--no-final", "--storage", url, "--data-dir", str(data), "--out",
               str(out)]
    log = open(out.with_suffix(".log"), "w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def summary(url: str, name: str) -> dict:
    import optuna

    study = optuna.load_study(study_name=name, storage=url)
    trials = [t for t in study.trials if t.datetime_start is not None]
    start = min(t.datetime_start for t in trials)
    hit = None
    best = 0.0
    for t in trials:
        scores = [v for v in (t.user_attrs.get("history") or {}).get("val_accuracy", [])
                  if v is not None]
        best = max([best, *scores])
        hits = [k for k, v in enumerate(scores) if v >= TARGET]
        if hits:
            fit = t.user_attrs.get("fit_seconds") or 0.0
            at = (t.datetime_start - start).total_seconds() + fit * (hits[0] + 1) / len(scores)
            hit = at if hit is None else min(hit, at)
    states = [t.state.name for t in trials]
    return {"trials": len(trials), "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "best": best, "hit": hit}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--study", default=str(BENCH / "wide.toml"))
    p.add_argument("--compare", help="a second study file, run beside each seed")
    args = p.parse_args(argv)
    data = data_dir(args.data_dir)
    studies = [Path(args.study)] + ([Path(args.compare)] if args.compare else [])
    runs = [(study, seed) for seed in args.seeds for study in studies]
    tmp = Path(tempfile.mkdtemp(prefix="hpo-wide-"))
    url = f"sqlite:///{tmp / 'wide.db'}"
    names = {}
    for i in range(0, len(runs), 2):
        wave = []
        for core, (study, seed) in enumerate(runs[i:i + 2]):
            out = tmp / f"{study.stem}-seed{seed}"
            # Each seed its own study name: a copy of the file named after it.
            copy = tmp / f"{study.stem}_s{seed}.toml"
            copy.write_text(study.read_text())
            names[(study, seed)] = copy.stem
            wave.append(launch(copy, seed, args.minutes, core, url, data, out))
        for process in wave:
            process.wait()
    rows = []
    for study in studies:
        hits, bests = [], []
        for seed in args.seeds:
            s = summary(url, names[(study, seed)])
            hits.append(s["hit"] if s["hit"] is not None else float("inf"))
            bests.append(s["best"])
            when = f"{s['hit'] / 60:.1f} min" if s["hit"] is not None else "never"
            rows.append([study.stem, seed, f"{s['trials']} ({s['complete']} complete, "
                         f"{s['pruned']} pruned)", f"{s['best']:.4f}", when])
        median = statistics.median(hits)
        rows.append([study.stem, "median", "", f"{statistics.median(bests):.4f}",
                     f"{median / 60:.1f} min" if median != float("inf") else "never"])
    command = ("python bench/wide.py --data-dir ../shared/data --seeds "
               + " ".join(map(str, args.seeds)) + f" --minutes {args.minutes:g}"
               + (f" --compare {args.compare}" if args.compare else ""))
    record("wide study", command, table(
        ["study", "seed", "trials", "best val accuracy", f"first val >= {TARGET}"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
