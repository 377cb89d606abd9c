"""Harness overhead: the share of a study's wall time not spent inside model.fit.

A study of MNIST trials of realistic length (20 epochs, 10 s or more each on 2 cores) run as
`python -m hpo.run` runs them (SQLite storage with heartbeats, TPE, median pruner, pruning
callback, per-trial user attributes), timed as a whole and against the sum of each trial's own
`model.fit` time (user attribute `fit_seconds`). The median pruner waits WARMUP epochs, so a
pruned trial is a long one too. The storage's share: the time the main thread spent inside
Optuna's storage (every public method of its RDBStorage, which the study's cache calls), out
of the wall time; the heartbeat thread's writes are not counted, as they overlap training.

Beside it, the same 30 trials' worth of search as a plain Optuna script writes it (the floor
any harness on Optuna and Keras starts from): Optuna's default TPE, the same median pruner,
optuna-integration's KerasPruningCallback, a SQLite file, the same Keras model built per
trial, `model.fit` on NumPy arrays. The two alternate `--runs` times in one process; the table
gives each one's median.

    python bench/overhead.py --data-dir ../shared/data
    python bench/overhead.py --data-dir ../shared/data --runs 3
    python bench/overhead.py --data-dir ../shared/data --trials 30 --epochs 3   # short trials
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
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
SEED = 1
N_STARTUP = 3  # the median pruner's trials before it prunes, in both harnesses
WARMUP = 0.75  # of the epochs, before the median pruner prunes, in both harnesses


def timed_storage(url: str):
    """hpo's storage (``hpo.storage.open_storage``) that adds up the seconds the main thread
    spends in its public methods (a nested call counted once)."""
    import optuna

    from hpo.storage import open_storage

    class Timed(optuna.storages.RDBStorage):
        seconds = 0.0
        calls = 0
        _depth = 0

        def __getattribute__(self, name):
            attr = super().__getattribute__(name)
            if name.startswith("_") or not callable(attr) or \
                    threading.current_thread() is not threading.main_thread():
                return attr

            def timed(*args, **kwargs):
                cls = type(self)
                cls._depth += 1
                start = time.perf_counter()
                try:
                    return attr(*args, **kwargs)
                finally:
                    cls._depth -= 1
                    if cls._depth == 0:
                        cls.seconds += time.perf_counter() - start
                        cls.calls += 1

            return timed

    storage = open_storage(url)
    storage.__class__ = Timed  # the same object and settings; only its calls are timed
    return storage, Timed


def run_hpo(search, trials: int, epochs: int, folder: Path):
    """hpo's loop (``hpo.search.run_trials``, as ``python -m hpo.run`` runs it)."""
    from hpo.search import run_trials
    from hpo.spec import parse_spec
    from hpo.storage import open_study

    # No textbook start: the sampled mix of trials (a start is a bigger net, whose longer fit
    # would dilute the share). No early stopping: the plain script has none.
    spec = parse_spec({"seed": SEED, "enqueue": [],
                       "budget": {"trials": trials, "max_epochs": epochs, "patience": 0},
                       "pruner": {"name": "median", "n_startup_trials": N_STARTUP,
                                  "n_warmup_steps": int(WARMUP * epochs)},
                       "space": SPACE}, name="overhead")
    url = f"sqlite:///{folder / 'hpo.db'}"
    storage, timer = timed_storage(url)
    study = open_study(url, "overhead", ["maximize"], {}, storage=storage)
    timer.seconds, timer.calls = 0.0, 0  # the search's calls only
    run_trials(spec, study, search, trials)
    done = study.get_trials()
    return done, [t.user_attrs.get("fit_seconds") for t in done], (timer.seconds, timer.calls)


def run_plain(search, trials: int, epochs: int, folder: Path):
    """The plain Optuna script: what a user writes without hpo (no heartbeats, no records)."""
    import keras
    import optuna
    from optuna_integration import KerasPruningCallback

    from hpo.models import build_model

    fit_seconds: list[float] = []

    def objective(trial):
        keras.backend.clear_session()
        lr, depth, units, dropout = (SPACE[k] for k in ("learning_rate", "n_layers", "units",
                                                         "dropout"))
        n_layers = trial.suggest_int("n_layers", depth["low"], depth["high"])
        params = {
            "optimizer": trial.suggest_categorical("optimizer", SPACE["optimizer"]),
            "learning_rate": trial.suggest_float("learning_rate", lr["low"], lr["high"],
                                                 log=True),
            "n_layers": n_layers,
            **{f"units_{i}": trial.suggest_int(f"units_{i}", units["low"], units["high"],
                                               log=True)
               for i in range(1, n_layers + 1)},
            "activation": trial.suggest_categorical("activation", SPACE["activation"]),
            "dropout": trial.suggest_float("dropout", dropout["low"], dropout["high"]),
        }
        batch_size = trial.suggest_categorical("batch_size", SPACE["batch_size"])
        model = build_model(params, search.input_shape, search.n_classes)
        start = time.perf_counter()
        try:
            history = model.fit(search.x_train, search.y_train, batch_size=batch_size,
                                epochs=epochs, validation_data=(search.x_val, search.y_val),
                                verbose=0,
                                callbacks=[KerasPruningCallback(trial, "val_accuracy")])
        finally:
            fit_seconds.append(time.perf_counter() - start)
        return max(history.history["val_accuracy"])

    study = optuna.create_study(
        storage=f"sqlite:///{folder / 'plain.db'}", study_name="plain", direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP,
                                           n_warmup_steps=int(WARMUP * epochs)))
    study.optimize(objective, n_trials=trials)
    return study.get_trials(), fit_seconds, None


def measure(runner, search, trials: int, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done, fits, storage = runner(search, trials, epochs, Path(tmp))
    # The trials' loop, from the first trial's start to the last one's end; what comes before
    # (tensors made from the data, the first TensorFlow op) is paid once per process.
    wall = (done[-1].datetime_complete - done[0].datetime_start).total_seconds()
    fit = sum(f for f in fits if f)
    states = [t.state.name for t in done]
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    result = {"wall": wall, "fit": fit, "outside_ms": (wall - fit) / len(done) * 1000,
              "share": (wall - fit) / wall, "n": len(done),
              "trial_s": statistics.median(seconds), "shortest_s": min(seconds),
              "states": f"{states.count('COMPLETE')} complete, {states.count('PRUNED')} "
                        f"pruned, {states.count('FAIL')} failed"}
    if storage is not None:
        result.update(storage_ms=storage[0] / len(done) * 1000, storage_share=storage[0] / wall,
                      storage_calls=storage[1] / len(done))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--runs", type=int, default=1,
                   help="alternate hpo and the plain script this many times (medians)")
    args = p.parse_args(argv)

    import optuna

    from hpo.data import load_dataset
    from hpo.spec import DataSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(DataSpec("mnist", validation_size=10000), data_dir(args.data_dir))
    runners = {"hpo": lambda: measure(run_hpo, data.search, args.trials, args.epochs),
               "plain Optuna script": lambda: measure(run_plain, data.search, args.trials,
                                                      args.epochs)}
    results: dict[str, list[dict]] = {name: [] for name in runners}
    for _ in range(args.runs):
        for name, runner in runners.items():
            results[name].append(runner())

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def cell(name: str, key: str, form: str, unit: str = "") -> str:
        """The median, then each run's figure when there were several."""
        text = format(median(name, key), form) + unit
        if args.runs > 1:
            text += " (" + ", ".join(format(r[key], form) for r in results[name]) + ")"
        return text

    rows = []
    for name, runs in results.items():
        states = list(dict.fromkeys(r["states"] for r in runs))
        rows.append([name, "; ".join(states),
                     f"{median(name, 'trial_s'):.1f} s (shortest {median(name, 'shortest_s'):.1f})",
                     f"{median(name, 'wall'):.1f} s", f"{median(name, 'fit'):.1f} s",
                     cell(name, "outside_ms", ".0f", " ms"), cell(name, "share", ".2%"),
                     cell(name, "storage_ms", ".0f", " ms") if "storage_ms" in runs[0] else "",
                     cell(name, "storage_share", ".2%") if "storage_ms" in runs[0] else ""])
    body = table([f"{args.trials} trials of {args.epochs} epochs", "states", "trial (median)",
                  "wall time", "inside model.fit", "outside model.fit, per trial",
                  "overhead share", "in storage calls, per trial", "storage share"], rows)
    added = median("hpo", "outside_ms") - median("plain Optuna script", "outside_ms")
    body += (f"\n\nhpo's own cost over the plain script: {added:+.0f} ms per trial outside "
             f"model.fit (medians of {args.runs} run{'s' if args.runs > 1 else ''}, alternated); "
             f"hpo's storage calls: {median('hpo', 'storage_calls'):.0f} a trial. Targets for "
             f"hpo: overhead share <= 3%, storage share <= 1%.")
    record("overhead", "python bench/overhead.py --data-dir ../shared/data"
           + (f" --trials {args.trials}" if args.trials != 20 else "")
           + (f" --epochs {args.epochs}" if args.epochs != 20 else "")
           + (f" --runs {args.runs}" if args.runs != 1 else ""), body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
