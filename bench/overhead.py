"""Harness overhead: the share of a study's wall time not spent inside model.fit.

A study of short MNIST trials run as `python -m hpo.run` runs them (SQLite storage with
heartbeats, TPE, median pruner, pruning callback, per-trial user attributes), timed as a whole
and against the sum of each trial's own `model.fit` time (user attribute `fit_seconds`).

    python bench/overhead.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import data_dir, record, table

SPACE = {
    "optimizer": ["adam", "sgd", "rmsprop"],
    "learning_rate": {"low": 1e-3, "high": 0.1, "log": True},
    "batch_size": [128, 256],
    "n_layers": {"low": 1, "high": 2},
    "units": {"low": 32, "high": 256, "log": True},
    "activation": ["relu", "elu"],
    "dropout": {"low": 0.0, "high": 0.3},
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args(argv)

    import optuna

    from hpo.data import load_dataset
    from hpo.search import run_trials
    from hpo.spec import DataSpec, parse_spec
    from hpo.storage import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(DataSpec("mnist", validation_size=10000), data_dir(args.data_dir))
    # No textbook start: the same mix of short trials as before the starts existed (a start
    # is a bigger net, whose longer fit would dilute the share).
    spec = parse_spec({"seed": 1, "budget": {"trials": args.trials, "max_epochs": args.epochs},
                       "enqueue": [],
                       "pruner": {"name": "median", "n_startup_trials": 3},
                       "space": SPACE}, name="overhead")
    with tempfile.TemporaryDirectory() as tmp:
        study = open_study(f"sqlite:///{Path(tmp) / 'hpo.db'}", "overhead", ["maximize"], {})
        start = time.perf_counter()
        run_trials(spec, study, data.search, args.trials)
        total = time.perf_counter() - start
        trials = study.get_trials()
    # The trials' loop, from the first trial's start to the last one's end; what comes before
    # (tensors made from the data, the first TensorFlow op) is paid once per process.
    wall = (trials[-1].datetime_complete - trials[0].datetime_start).total_seconds()
    fit = [t.user_attrs["fit_seconds"] for t in trials if t.user_attrs.get("fit_seconds")]
    outside = wall - sum(fit)
    states = [t.state.name for t in trials]
    rows = [
        ["trials", f"{len(trials)} ({states.count('COMPLETE')} complete, "
                   f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)"],
        ["wall time of the trials", f"{wall:.1f} s (+ {total - wall:.1f} s set-up once per "
                                    f"process)"],
        ["inside model.fit (sum)",
         f"{sum(fit):.1f} s (median trial {statistics.median(fit):.2f} s)"],
        ["outside model.fit", f"{outside:.1f} s = {outside / len(trials) * 1000:.0f} ms per trial"],
        ["overhead share", f"{outside / wall:.1%} (target <= 3%)"],
    ]
    record("overhead", "python bench/overhead.py --data-dir ../shared/data"
           + (f" --trials {args.trials}" if args.trials != 30 else "")
           + (f" --epochs {args.epochs}" if args.epochs != 3 else ""),
           table(["", ""], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
