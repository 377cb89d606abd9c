"""One tuner of the race against hpo's peers, one seed, one wall-clock budget; a JSON result.

The tuners: ``hpo`` (its defaults, as a study file that sets only [data], [budget] and [space]
gets them), ``optuna`` (the plain script of Optuna's Keras example), ``kt-hyperband`` and
``kt-bayes`` (KerasTuner's Hyperband and BayesianOptimization). One protocol for all: the same
MNIST MLP space (optimizer, learning rate, decay, batch size, depth 1-4, width 32-1024,
activation, initializer, L1/L2, dropout), a search on 50k / 10k (the split seeded by
``--seed``), ``--minutes`` of search, then the winner retrained on all 60k for the epochs it
used and tested once on the 10k test set. The models are built by the same
``hpo.models.build_model`` so that only the search harness differs. The process uses one
core's worth of threads (pin it with ``taskset``); ``bench/race.py`` runs the whole race, two
runs side by side. Needs ``pip install -e ".[bench]"`` (keras-tuner, tensorboard).

    python bench/peers.py --tuner hpo --seed 1 --minutes 15 --json bench/race/hpo-seed1-15min.json

Fields of the JSON: tuner, seed, minutes, trials (trials run), trial_states (their count per
state), search_seconds, best_val, test_accuracy, first_hit_seconds (the search's wall-clock
seconds to the first validation accuracy >= ``target``; null: never), params (the winner's),
epochs (the winner's, retrained with them), target, max_epochs, test_seconds, cpus (the
process's CPU affinity), threads, command.
"""

from __future__ import annotations

import os

# One core's worth of threads, set before anything loads TensorFlow.
for _name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import data_dir  # noqa: E402

TUNERS = ("hpo", "optuna", "kt-hyperband", "kt-bayes")
THREADS = 1
OPTIMIZERS = ["sgd", "adam", "nadam", "rmsprop", "adagrad", "adadelta"]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "elu", "selu", "leaky_relu"]
INITIALIZERS = ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                "random_normal", "random_uniform"]
BATCHES = [64, 128, 256, 512]
MAX_EPOCHS = 10
TARGET = 0.98

# The space as an hpo study file writes it.
HPO_SPACE = {
    "optimizer": OPTIMIZERS,
    "learning_rate": {"low": 1e-4, "high": 0.3, "log": True},
    "decay": {"low": 1e-7, "high": 1e-3, "log": True},
    "batch_size": BATCHES,
    "n_layers": {"low": 1, "high": 4},
    "units": {"low": 32, "high": 1024, "log": True},
    "activation": ACTIVATIONS,
    "initializer": INITIALIZERS,
    "l1": {"low": 1e-9, "high": 1e-4, "log": True},
    "l2": {"low": 1e-9, "high": 1e-3, "log": True},
    "dropout": {"low": 0.0, "high": 0.5},
}


class Clock:
    """Wall-clock since the search started, and when validation accuracy first hit TARGET."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.hit: float | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def saw(self, val_accuracy: float | None) -> None:
        if self.hit is None and val_accuracy is not None and val_accuracy >= TARGET:
            self.hit = self.elapsed()


def keras_callback(clock: Clock):
    import keras

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock.saw((logs or {}).get("val_accuracy"))

    return Watch()


def run_hpo(search, seconds: float, seed: int):
    """hpo's defaults, as a study file that sets only [data], [budget] and [space] gets them
    (hpo chooses the sampler, the pruner and the patience), the study's timeout the budget."""
    import optuna

    from hpo.search import enqueue_first, run_trials
    from hpo.spec import parse_spec

    spec = parse_spec({"seed": seed, "family": "mlp",
                       "budget": {"trials": 100000, "max_epochs": MAX_EPOCHS,
                                  "timeout": seconds},
                       "space": HPO_SPACE}, name="peers-hpo")
    study = optuna.create_study(direction="maximize")
    enqueue_first(spec, study)  # the family's known-good start configurations, as hpo.run does
    clock = Clock()

    started = time.time()

    def watch(study, trial):
        # hpo's own callbacks are not open to extension here: place the epoch that first hit
        # TARGET on the clock from the trial's start and its share of the trial's fit time.
        scores = (trial.user_attrs.get("history") or {}).get("val_accuracy", [])
        hits = [k for k, value in enumerate(scores) if value >= TARGET]
        if clock.hit is None and hits:
            fit = trial.user_attrs.get("fit_seconds") or 0.0
            clock.hit = (trial.datetime_start.timestamp() - started
                         + fit * (hits[0] + 1) / len(scores))
    run_trials(spec, study, search, 100000, callbacks=[watch])
    best = study.best_trial
    return (optuna_states(study), best.value, dict(best.params),
            best.user_attrs.get("best_epoch") or MAX_EPOCHS, clock)


def optuna_states(study) -> dict[str, int]:
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return states


def run_optuna_script(search, seconds: float, seed: int):
    """The plain script of Optuna's Keras example: TPE, HyperbandPruner, KerasPruningCallback,
    model.fit on NumPy arrays."""
    import keras
    import optuna
    from optuna_integration import KerasPruningCallback

    from hpo.models import build_model

    clock = Clock()

    def objective(trial):
        keras.backend.clear_session()
        n_layers = trial.suggest_int("n_layers", 1, 4)
        params = {
            "optimizer": trial.suggest_categorical("optimizer", OPTIMIZERS),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 0.3, log=True),
            "decay": trial.suggest_float("decay", 1e-7, 1e-3, log=True),
            "n_layers": n_layers,
            **{f"units_{i}": trial.suggest_int(f"units_{i}", 32, 1024, log=True)
               for i in range(1, n_layers + 1)},
            "activation": trial.suggest_categorical("activation", ACTIVATIONS),
            "initializer": trial.suggest_categorical("initializer", INITIALIZERS),
            "l1": trial.suggest_float("l1", 1e-9, 1e-4, log=True),
            "l2": trial.suggest_float("l2", 1e-9, 1e-3, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
        batch = trial.suggest_categorical("batch_size", BATCHES)
        model = build_model(params, search.input_shape, search.n_classes)
        history = model.fit(search.x_train, search.y_train, batch_size=batch, epochs=MAX_EPOCHS,
                            validation_data=(search.x_val, search.y_val), verbose=0,
                            callbacks=[KerasPruningCallback(trial, "val_accuracy"),
                                       keras_callback(clock)])
        scores = history.history["val_accuracy"]
        best = max(range(len(scores)), key=scores.__getitem__)
        trial.set_user_attr("best_epoch", best + 1)
        return scores[best] if math.isfinite(history.history["loss"][-1]) else float("nan")

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(max_resource=MAX_EPOCHS))
    study.optimize(objective, timeout=seconds, catch=(Exception,))
    best = study.best_trial
    params = {k: v for k, v in best.params.items()}
    return optuna_states(study), best.value, params, best.user_attrs["best_epoch"], clock


def run_kerastuner(search, seconds: float, seed: int, workdir: str, algorithm: str = "hyperband"):
    """KerasTuner's Hyperband or BayesianOptimization, stopped at the deadline: no trial starts
    after it, and the one running then stops at its next epoch end."""
    import keras
    import keras_tuner as kt

    from hpo.models import build_model

    clock = Clock()
    deadline = time.monotonic() + seconds

    def hypermodel(hp):
        n_layers = hp.Int("n_layers", 1, 4)
        params = {
            "optimizer": hp.Choice("optimizer", OPTIMIZERS),
            "learning_rate": hp.Float("learning_rate", 1e-4, 0.3, sampling="log"),
            "decay": hp.Float("decay", 1e-7, 1e-3, sampling="log"),
            "n_layers": n_layers,
            **{f"units_{i}": hp.Int(f"units_{i}", 32, 1024, sampling="log")
               for i in range(1, n_layers + 1)},
            "activation": hp.Choice("activation", ACTIVATIONS),
            "initializer": hp.Choice("initializer", INITIALIZERS),
            "l1": hp.Float("l1", 1e-9, 1e-4, sampling="log"),
            "l2": hp.Float("l2", 1e-9, 1e-3, sampling="log"),
            "dropout": hp.Float("dropout", 0.0, 0.5),
        }
        return build_model(params, search.input_shape, search.n_classes)

    base = kt.Hyperband if algorithm == "hyperband" else kt.BayesianOptimization

    class Budgeted(base):
        def run_trial(self, trial, *args, **kwargs):
            if time.monotonic() > deadline:
                raise kt.errors.FatalError("time budget spent")
            kwargs["batch_size"] = trial.hyperparameters.Choice("batch_size", BATCHES)
            return super().run_trial(trial, *args, **kwargs)

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() > deadline:
                self.model.stop_training = True

    common = dict(objective="val_accuracy", seed=seed, directory=workdir, project_name="peers",
                  overwrite=True, max_consecutive_failed_trials=1000)
    if algorithm == "hyperband":
        # One Hyperband iteration is only ~30 trials (4.7 minutes here): iterate until the
        # deadline, so that KerasTuner gets the same wall-clock budget as the others.
        tuner = Budgeted(hypermodel, max_epochs=MAX_EPOCHS, factor=3, hyperband_iterations=1000,
                         **common)
    else:
        tuner = Budgeted(hypermodel, max_trials=100000, **common)
    try:
        tuner.search(search.x_train, search.y_train, epochs=MAX_EPOCHS, verbose=0,
                     validation_data=(search.x_val, search.y_val),
                     callbacks=[keras_callback(clock), Stop()])
    except kt.errors.FatalError:
        pass
    best = tuner.oracle.get_best_trials(1)[0]
    hp = dict(best.hyperparameters.values)
    if algorithm == "hyperband":
        epochs = int(hp.get("tuner/epochs", MAX_EPOCHS))
    else:  # every trial trains MAX_EPOCHS (or fewer at the deadline); its best epoch, 1-based
        epochs = int(best.best_step or 0) + 1
    for key in [k for k in hp if k.startswith("tuner/")]:
        hp.pop(key)
    n_layers = hp["n_layers"]
    hp = {k: v for k, v in hp.items()
          if not (k.startswith("units_") and int(k.split("_")[1]) > n_layers)}
    states: dict[str, int] = {}
    for trial in tuner.oracle.trials.values():
        status = str(trial.status)
        states[status] = states.get(status, 0) + 1
    # The trial the deadline refused to start never ran: not counted.
    states.pop("RUNNING", None)
    states.pop("IDLE", None)
    return states, best.score, hp, epochs, clock


def final_test(data, params: dict, epochs: int, seed: int) -> float:
    """The winner retrained on all 60k for its epochs, tested once: the same for everyone."""
    import keras

    from hpo.fit import STEPS_PER_EXECUTION, Feeder
    from hpo.models import build_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    params = dict(params)
    batch = params.pop("batch_size", 128)
    model = build_model(params, data.search.input_shape, data.search.n_classes,
                        steps_per_execution=STEPS_PER_EXECUTION)
    x, y = data.search.train_and_validation()
    model.fit(Feeder(x, y, seed=seed).train(batch), epochs=epochs, shuffle=False, verbose=0)
    x_test, y_test = data.test.open()  # sealed as loaded: scaled as the search's inputs were
    return float(model.evaluate(data.search.scaling.apply(x_test), y_test, verbose=0)[1])


def run(tuner: str, seed: int, minutes: float, data_path) -> dict:
    """One run of the race: ``tuner``'s search for ``minutes``, then the shared final test."""
    import tempfile

    import optuna
    import tensorflow as tf

    # Besides the environment variables: one thread per pool, set before any op runs.
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)

    from hpo.data import load_dataset
    from hpo.spec import DataSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seconds = minutes * 60
    data = load_dataset(DataSpec("mnist", validation_size=10000), data_path, seed=seed)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        if tuner == "hpo":
            result = run_hpo(data.search, seconds, seed)
        elif tuner == "optuna":
            result = run_optuna_script(data.search, seconds, seed)
        else:
            algorithm = "hyperband" if tuner == "kt-hyperband" else "bayes"
            result = run_kerastuner(data.search, seconds, seed, tmp, algorithm)
    searched = time.monotonic() - start
    states, value, params, epochs, clock = result
    tested = time.monotonic()
    test = final_test(data, params, int(epochs), seed)
    return {
        "tuner": tuner,
        "seed": seed,
        "minutes": minutes,
        "trials": sum(states.values()),
        "trial_states": states,
        "search_seconds": round(searched, 1),
        "best_val": float(value),
        "test_accuracy": test,
        "first_hit_seconds": None if clock.hit is None else round(clock.hit, 1),
        "params": {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()},
        "epochs": int(epochs),
        "target": TARGET,
        "max_epochs": MAX_EPOCHS,
        "test_seconds": round(time.monotonic() - tested, 1),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": THREADS,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tuner", required=True, choices=TUNERS)
    p.add_argument("--seed", type=int, default=1, help="the split's and the tuner's seed")
    p.add_argument("--minutes", type=float, default=15.0, help="the search's wall-clock budget")
    p.add_argument("--json", help="write the result here (it is printed either way)")
    p.add_argument("--data-dir")
    args = p.parse_args(argv)

    result = run(args.tuner, args.seed, args.minutes, data_dir(args.data_dir))
    result["command"] = " ".join(["python bench/peers.py", *(argv if argv is not None
                                                             else sys.argv[1:])])
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)  # whole or not at all: a resumed race trusts what it finds
    print(text, end="", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
