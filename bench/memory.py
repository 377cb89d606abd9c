"""Memory over a long study: the process's RSS after each of 100 small MNIST trials.

    python bench/memory.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import data_dir, record, table

SPACE = {
    "optimizer": ["adam", "sgd", "rmsprop", "nadam"],
    "learning_rate": {"low": 1e-3, "high": 0.1, "log": True},
    "batch_size": [128, 256, 512],
    "n_layers": {"low": 1, "high": 3},
    "units": {"low": 16, "high": 128, "log": True},
    "activation": ["relu", "tanh", "elu"],
    "dropout": {"low": 0.0, "high": 0.3},
}


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--trials", type=int, default=100)
    args = p.parse_args(argv)

    import optuna

    from hpo.data import load_dataset
    from hpo.search import run_trials
    from hpo.spec import DataSpec, parse_spec
    from hpo.storage import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(DataSpec("mnist", validation_size=10000), data_dir(args.data_dir))
    spec = parse_spec({"seed": 2, "budget": {"trials": args.trials, "max_epochs": 1},
                       "pruner": {"name": "none"}, "space": SPACE}, name="memory")
    rss: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        study = open_study(f"sqlite:///{Path(tmp) / 'hpo.db'}", "memory", ["maximize"], {})
        run_trials(spec, study, data.search, args.trials,
                   callbacks=[lambda study, trial: rss.append(rss_mb())])
    marks = sorted({n for n in (1, 10, 25, 50, 75) if n <= len(rss)} | {len(rss)})
    rows = [[n, f"{rss[n - 1]:.0f}"] for n in marks]
    growth_all, growth_warm = rss[-1] - rss[0], rss[-1] - rss[9]
    body = (table(["after trial", "RSS (MB)"], rows)
            + f"\n\ngrowth over {len(rss)} trials: {growth_all:+.0f} MB from trial 1, "
              f"{growth_warm:+.0f} MB from trial 10; peak {max(rss):.0f} MB (target: growth "
              f"<= 200 MB)")
    record("memory", "python bench/memory.py --data-dir ../shared/data"
           + (f" --trials {args.trials}" if args.trials != 100 else ""), body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
