"""The race against the peers: every (tuner, seed) run of bench/peers.py, two side by side.

Each run is a ``bench/peers.py`` process of one core's worth of threads, pinned to its own core
(``taskset -c 0`` / ``taskset -c 1``); two start together and the next two start when both are
done. hpo runs beside a peer where it can (a peer of the same seed, the peers in turn), so that
the noise of a shared machine falls on both sides. A run whose JSON is already in ``--out`` is
not run again: an interrupted race resumes where it stopped. Then every JSON there for these
``--minutes`` and ``--tuners`` goes into one table per tuner: runs, test accuracy (median and
range), time to the first validation accuracy >= 0.98 (median and range, and how many runs
never got there), median trials; and a one-line verdict against the best peer.

    python bench/race.py --minutes 15 --seeds 1 2 3 --data-dir ../shared/data
    python bench/race.py --minutes 15 --seeds 1 2 3 --aggregate-only    # the table again

The table goes to bench/RESULTS.md (``## peers, 15 minutes``) when ``--out`` is the default;
a race elsewhere writes ``RESULTS.md`` in its ``--out`` unless ``--results`` says where.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers.py"
DEFAULT_OUT = BENCH / "race"
TUNERS = ("hpo", "optuna", "kt-hyperband", "kt-bayes")
TARGET = 0.98
TEST_MARGIN = 0.002  # hpo's median test accuracy: at least the best peer's + 0.2 points
TIME_SHARE = 0.5  # hpo's median time to TARGET: at most half the best peer's


def run_name(tuner: str, seed: int, minutes: float) -> str:
    return f"{tuner}-seed{seed}-{minutes:g}min"


def pairs(runs: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Waves of two: each hpo run beside a peer (one of its seed where there is one, the peers
    taking turns), then the peers that are left two by two, then any hpo runs left."""
    hpo = [r for r in runs if r[0] == "hpo"]
    peers = [r for r in runs if r[0] != "hpo"]
    names = sorted({t for t, _ in peers}, key=TUNERS.index)
    waves = []
    for k, run in enumerate(hpo):
        if not peers:
            break
        turn = names[k % len(names)] if names else None
        choice = (next((p for p in peers if p == (turn, run[1])), None)
                  or next((p for p in peers if p[1] == run[1]), None)
                  or next((p for p in peers if p[0] == turn), None)
                  or peers[0])
        peers.remove(choice)
        waves.append([run, choice])
    rest = hpo[len(waves):] + peers
    waves += [rest[i:i + 2] for i in range(0, len(rest), 2)]
    return waves


def cores() -> list[int]:
    """The two cores the runs are pinned to (one when there is only one, or no taskset)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    if shutil.which("taskset") is None:
        return []
    return allowed[:2]


def race(args, out: Path) -> list[str]:
    """Run the runs that have no JSON yet; the names of those that failed."""
    todo = [(t, s) for s in args.seeds for t in args.tuners
            if not (out / f"{run_name(t, s, args.minutes)}.json").exists()]
    done = len(args.seeds) * len(args.tuners) - len(todo)
    if done:
        print(f"race: {done} run(s) already in {out}; {len(todo)} to go", flush=True)
    pinned = cores()
    waves = pairs(todo) if len(pinned) == 2 else [[r] for r in todo]
    failed = []
    for n, wave in enumerate(waves, 1):
        started = time.monotonic()
        procs = []
        for slot, (tuner, seed) in enumerate(wave):
            name = run_name(tuner, seed, args.minutes)
            command = [sys.executable, str(PEERS), "--tuner", tuner, "--seed", str(seed),
                       "--minutes", f"{args.minutes:g}", "--json", str(out / f"{name}.json")]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            if pinned:
                command = ["taskset", "-c", str(pinned[slot]), *command]
            log = open(out / f"{name}.log", "w")
            procs.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                 cwd=BENCH.parent), log))
        where = ", ".join(f"{name} on core {pinned[i]}" if pinned else name
                          for i, (name, _, _) in enumerate(procs))
        print(f"race: wave {n}/{len(waves)}: {where}", flush=True)
        try:
            for name, proc, log in procs:
                rc = proc.wait()
                log.close()
                if rc:
                    failed.append(name)
                    print(f"race: {name} failed (exit {rc}); see {out / (name + '.log')}",
                          flush=True)
        except KeyboardInterrupt:
            for _, proc, _ in procs:  # only the processes this race started
                if proc.poll() is None:
                    proc.terminate()
            for _, proc, _ in procs:
                proc.wait()
            raise
        print(f"race: wave {n} done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return failed


def load(out: Path, minutes: float, tuners) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {t: [] for t in tuners}
    for path in sorted(out.glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            print(f"race: {path} is not a result; left out", flush=True)
            continue
        if (isinstance(result, dict) and result.get("tuner") in results
                and math.isclose(float(result.get("minutes", -1)), minutes)):
            results[result["tuner"]].append(result)
    for runs in results.values():
        runs.sort(key=lambda r: r["seed"])
    return results


def hit_time(result: dict) -> float:
    hit = result.get("first_hit_seconds")
    return math.inf if hit is None else float(hit)


def fmt_time(seconds: float) -> str:
    if math.isinf(seconds):
        return "never"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def median(values: list[float]) -> float:
    # The lower median: an even count of runs gives a run's own value, and "never" stays one.
    return statistics.median_low(values)


def aggregate(results: dict[str, list[dict]]) -> tuple[str, str, dict]:
    rows, stats = [], {}
    for tuner, runs in results.items():
        if not runs:
            continue
        tests = [r["test_accuracy"] for r in runs]
        hits = [hit_time(r) for r in runs]
        reached = [h for h in hits if not math.isinf(h)]
        stats[tuner] = {"test": median(tests), "hit": median(hits)}
        rows.append([
            tuner, len(runs), " ".join(str(r["seed"]) for r in runs),
            f"{median(tests):.4f}", f"{min(tests):.4f} to {max(tests):.4f}",
            fmt_time(median(hits)),
            f"{fmt_time(min(reached))} to {fmt_time(max(reached))}" if reached else "-",
            sum(math.isinf(h) for h in hits),
            f"{statistics.median([r['trials'] for r in runs]):g}",
        ])
    body = _common.table(["tuner", "runs", "seeds", "test accuracy (median)", "test range",
                          f"first val >= {TARGET} (median)", "range (runs that got there)",
                          "never", "trials (median)"], rows)
    return body, verdict(stats), stats


def verdict(stats: dict) -> str:
    peers = {t: s for t, s in stats.items() if t != "hpo"}
    if "hpo" not in stats or not peers:
        return "verdict: needs hpo and at least one peer"
    hpo = stats["hpo"]
    best_test = max(peers, key=lambda t: peers[t]["test"])
    best_hit = min(peers, key=lambda t: peers[t]["hit"])
    gain = hpo["test"] - peers[best_test]["test"]
    test_ok = gain >= TEST_MARGIN - 1e-12
    limit = TIME_SHARE * peers[best_hit]["hit"]  # inf when no peer's median got there
    hit_ok = not math.isinf(hpo["hit"]) and hpo["hit"] <= limit
    return (f"verdict: hpo's median test {hpo['test']:.4f} vs the best peer's "
            f"({best_test}) {peers[best_test]['test']:.4f}: {100 * gain:+.2f} points "
            f"(target >= +{100 * TEST_MARGIN:.1f}): {'met' if test_ok else 'not met'}; "
            f"hpo's median time to {TARGET} {fmt_time(hpo['hit'])} vs "
            + (f"the best peer's ({best_hit}) {fmt_time(peers[best_hit]['hit'])}"
               if not math.isinf(limit) else "never for every peer's median")
            + f" (target <= half): "
            f"{'met' if hit_ok else 'not met'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="each run's search budget")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--tuners", nargs="+", choices=TUNERS, default=list(TUNERS))
    p.add_argument("--data-dir")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="the runs' JSONs and logs")
    p.add_argument("--results", help="the RESULTS.md to record the table in (default: "
                   "bench/RESULTS.md for the default --out, else RESULTS.md in --out)")
    p.add_argument("--aggregate-only", action="store_true",
                   help="run nothing: the table from the JSONs in --out")
    args = p.parse_args(argv)
    args.tuners = list(dict.fromkeys(args.tuners))
    args.seeds = list(dict.fromkeys(args.seeds))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    if not args.aggregate_only:
        if args.data_dir is None:
            _common.data_dir(None)  # fail now, not in every run
        failed = race(args, out)

    results = load(out, args.minutes, args.tuners)
    if not any(results.values()):
        print(f"race: no results for {args.minutes:g} minutes in {out}")
        return 1
    body, line, _ = aggregate(results)
    body += (f"\n\nEach run: bench/peers.py, one core (taskset) and one thread pool each, two "
             f"runs side by side; {args.minutes:g} minutes of search, then the winner "
             f"retrained on all 60k and tested once. Medians are lower medians; a run that "
             f"never reached {TARGET} counts as slowest.\n\n{line}")

    words = ["python bench/race.py", "--minutes", f"{args.minutes:g}", "--seeds",
             *map(str, args.seeds)]
    if args.tuners != list(TUNERS):
        words += ["--tuners", *args.tuners]
    if args.data_dir:
        words += ["--data-dir", args.data_dir]
    if out.resolve() != DEFAULT_OUT.resolve():
        words += ["--out", str(out)]
    command = " ".join(shlex.quote(w) if i else w for i, w in enumerate(words))
    results_path = Path(args.results) if args.results else (
        _common.RESULTS if out.resolve() == DEFAULT_OUT.resolve() else out / "RESULTS.md")
    _common.RESULTS = results_path  # record() writes where this names
    _common.record(f"peers, {args.minutes:g} minutes", command, body)
    print(f"race: table recorded in {results_path}")
    if failed:
        print(f"race: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
