"""Seconds per epoch inside an hpo trial vs a tuned raw Keras loop vs a naive fit.

Same model (784-128-64-10 relu, Adam, batch 128), same data (MNIST 50k train / 10k validation,
validated every epoch), same process; the three are interleaved for ``--rounds`` rounds and
each one's epoch time is the median over its epochs after the first (which traces the graph).

    python bench/speed.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _common import data_dir, record, table

MODEL = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 128, "layers": "128-64",
         "activation": "relu"}
SPACE = {**MODEL, "layers": [[128, 64]]}  # the same, as a study file pins it


class EpochTimer:
    def __init__(self):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.start = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                self.seconds.append(time.perf_counter() - cb.start)

        self.seconds: list[float] = []
        self.callback = _Timer()

    def median(self) -> float:
        return statistics.median(self.seconds[1:])


def naive(search, epochs: int) -> float:
    import keras

    from hpo.models import build_model

    keras.backend.clear_session()
    model = build_model(MODEL, search.input_shape, search.n_classes)
    timer = EpochTimer()
    model.fit(search.x_train, search.y_train, batch_size=128, epochs=epochs,
              validation_data=(search.x_val, search.y_val), callbacks=[timer.callback], verbose=0)
    return timer.median()


def tuned_raw(search, epochs: int) -> float:
    """The loop a careful person writes by hand: cached, prefetched tf.data, 32 steps per call."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    model = keras.Sequential([
        keras.Input(search.input_shape), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(search.n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=32)
    train = (tf.data.Dataset.from_tensor_slices((search.x_train, search.y_train)).batch(128)
             .cache().prefetch(tf.data.AUTOTUNE))
    val = (tf.data.Dataset.from_tensor_slices((search.x_val, search.y_val)).batch(1024)
           .cache().prefetch(tf.data.AUTOTUNE))
    timer = EpochTimer()
    model.fit(train, epochs=epochs, validation_data=val, callbacks=[timer.callback], verbose=0)
    return timer.median()


def hpo_trial(spec, search, epochs: int, state: dict) -> float:
    """One trial of a study pinned to MODEL, as `python -m hpo.run` runs it (pruning callback,
    NaN check, storage writes); the objective is made once, as in a study."""
    import optuna

    from hpo.objective import make_objective

    if "objective" not in state:
        state["objective"] = make_objective(spec, search)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(state["objective"], n_trials=1)
    seconds = study.trials[0].user_attrs["seconds_per_epoch"]
    assert study.trials[0].user_attrs["epochs"] == epochs
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    import optuna

    from hpo.data import load_dataset
    from hpo.spec import DataSpec, parse_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(DataSpec("mnist", validation_size=10000), data_dir(args.data_dir))
    spec = parse_spec({"budget": {"trials": 1, "max_epochs": args.epochs},
                       "pruner": {"name": "none"}, "space": SPACE}, name="speed")
    runs = {"naive fit (NumPy arrays)": [], "tuned raw loop (tf.data cache, 32 steps/call)": [],
            "hpo trial": []}
    state: dict = {}
    for r in range(args.rounds):
        runs["naive fit (NumPy arrays)"].append(naive(data.search, args.epochs))
        runs["tuned raw loop (tf.data cache, 32 steps/call)"].append(
            tuned_raw(data.search, args.epochs))
        runs["hpo trial"].append(hpo_trial(spec, data.search, args.epochs, state))
        print(f"round {r + 1}: " + ", ".join(f"{v[-1]:.3f}" for v in runs.values()),
              file=sys.stderr)
    med = {k: statistics.median(v) for k, v in runs.items()}
    hpo, tuned, naive_s = med["hpo trial"], med[
        "tuned raw loop (tf.data cache, 32 steps/call)"], med["naive fit (NumPy arrays)"]
    rows = [[k, f"{v:.3f}", ", ".join(f"{x:.3f}" for x in runs[k]), f"{hpo / v:.2f}"]
            for k, v in med.items()]
    body = table(["loop", "s/epoch (median)", "per round", "hpo trial / this"], rows)
    verdict = (f"\nhpo / tuned raw = {hpo / tuned:.3f} (target <= 1.05); "
               f"hpo / naive = {hpo / naive_s:.3f} (target <= 0.5)")
    record("speed", "python bench/speed.py --data-dir ../shared/data"
           + (f" --epochs {args.epochs}" if args.epochs != 6 else "")
           + (f" --rounds {args.rounds}" if args.rounds != 3 else ""), body + "\n" + verdict)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
