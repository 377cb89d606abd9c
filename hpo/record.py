"""The trial record: what hpo stores per trial and per study, and what best.json holds.

Every name a trial or study attribute is stored under lives here, so the objective, the
results table, the report, the export and the workers agree on them, and so that reading a
stored study (``hpo.report``, ``hpo.export``) needs neither TensorFlow nor Keras.

Per trial (``trial.user_attrs``), set by the objective:

``n_params``           the model's parameter count (None when no model was built)
``epochs``             epochs trained, summed over folds
``best_epoch``         the (1-based) epoch at which the study's metric peaked
                       (epochs tied at the best score: the lowest validation loss)
``seconds_per_epoch``  median epoch time after each model's first (which traces the graph)
``fit_seconds``        all of ``model.fit``, tracing included
``history``            the first model's per-epoch metrics (lists, 1 entry per epoch)
``fold_scores``, ``cv_std``  with ``cv_folds``: each fold's best score and their spread
``fail_reason``        why the trial failed (also ``interrupted`` and ``not needed``)
``pruned_reason``      why the trial was pruned
``worker``, ``process`` which worker and which host:pid ran it
``seed``               the seed it trained with (the final retrain reuses it)

Per study (``study.user_attrs``): the identity a resumed run must match (``IDENTITY_KEYS``),
the scaling of the search's inputs (``preprocessing``), the latest run's output folder
(``out_dir``) and, after the final step, ``final``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from hpo.tasks import CLASSIFICATION

# -- trial attributes --------------------------------------------------------------------------
N_PARAMS = "n_params"
EPOCHS = "epochs"
BEST_EPOCH = "best_epoch"
SECONDS_PER_EPOCH = "seconds_per_epoch"
FIT_SECONDS = "fit_seconds"
HISTORY = "history"
FOLD_SCORES = "fold_scores"
CV_STD = "cv_std"
FAIL_REASON = "fail_reason"
PRUNED_REASON = "pruned_reason"
WORKER = "worker"
PROCESS = "process"
SEED = "seed"
MAX_EPOCHS = "max_epochs"  # the study's max_epochs when the trial ran: its schedule's length
# {"key": its checkpoint's name, "trial": the trial that wrote it}; a retry carries it over
CHECKPOINT = "checkpoint"
RESUMED = "resumed"  # {"from": trial, "at_epoch": k + 1, "kept": k}: where a retry went on

INTERRUPTED = "interrupted"  # the fail_reason of a trial stopped by Ctrl-C
SIGNAL = "signal"  # which signal interrupted it: SIGINT (Ctrl-C) or SIGTERM
SURPLUS = "not needed"  # the fail_reason of a trial started after the study was full

# -- study attributes --------------------------------------------------------------------------
# What a study was made with; a run that differs in any of them is another study. "family" is
# the model: "mlp", "cnn" or a builder's "module:function".
IDENTITY_KEYS = ("family", "dataset", "task", "input_shape", "n_classes", "n_outputs", "metric",
                 "space", "inherited", "objectives")
PREPROCESSING = "preprocessing"
OUT_DIR = "out_dir"  # where the latest run wrote best.json, the report and the results
BUILDER_DIR = "builder_dir"  # the study file's folder, where its builder was imported from
# How the latest run searched: sampler, pruner, seed, the space's domains, the validation
# split's size and the library versions (the report shows them).
SEARCH = "search"
WARM_START = "warm_start"  # the earlier study a warm-started one began from, and how
FINAL = "final"
FINAL_OTHERS = "final_others"
# The final step's retrains tested so far ({"trial": n, "done": {...}}), while it runs; None after
FINAL_PROGRESS = "final_progress"

DEFAULT_METRIC = "val_accuracy"


def format_score(value: float, n: int | None = None) -> str:
    """A metric's value to the precision its split supports.

    A score in [0, 1] (an accuracy, an AUC) measured on ``n`` examples has a binomial standard
    error of about sqrt(p(1 - p) / n): it is printed to one decimal beyond that error's first
    digit (3 decimals on 300 examples, 4 on MNIST's 10 000), at most 4. Other values: 4 digits.
    """
    import math

    if not 0.0 <= value <= 1.0:
        return f"{value:.4g}"
    decimals = 4
    if n:
        se = math.sqrt(max(value * (1 - value), 1.0 / n) / n)
        decimals = min(4, max(2, math.ceil(-math.log10(se)) + 1))
    return f"{value:.{decimals}f}"


def n_validation(study: Any) -> int | None:
    """How many examples the study's trials were scored on (None for older studies)."""
    return (study.user_attrs.get(SEARCH) or {}).get("n_validation")


def trial_seed(seed: int, trial_number: int) -> int:
    """The seed a trial trains with; the final retrain of that trial reuses it."""
    return seed + trial_number


def failure(trial: Any) -> str | None:
    """Why a (frozen) trial failed or was pruned, as stored; None if it did neither."""
    attrs = trial.user_attrs
    return attrs.get(FAIL_REASON) or attrs.get(PRUNED_REASON) or None


def out_dir(study: Any) -> Path:
    """Where the study's latest run wrote its files (runs/<study> for older studies)."""
    return Path(study.user_attrs.get(OUT_DIR) or Path("runs") / study.study_name)


def study_metric(study: Any) -> str:
    """The metric a stored study is scored on (studies made before metrics were chosen:
    validation accuracy)."""
    return study.user_attrs.get("metric") or DEFAULT_METRIC


class Config(TypedDict, total=False):
    """An exported configuration, and the first part of best.json.

    ``model`` names the builder ("mlp", "cnn" or "module:function") that, called with a
    ``FixedTrial`` of ``params``, rebuilds the model; ``input_shape``, ``task``, ``n_classes``
    and ``n_outputs`` are what it was built for; ``preprocessing`` is how its inputs were
    scaled (see ``hpo.data.Scaling``); ``seed`` the trial's seed and ``space`` the study's
    search space. ``keras`` (see ``hpo.builders.describe``) rebuilds the model with Keras
    alone: its architecture as ``model.to_json()`` and its compile settings (the optimizer
    serialized with its learning rate schedule, the loss, the metrics); ``versions`` are those
    it was written with.
    """

    study: str
    trial: int
    model: str
    dataset: str
    task: str
    input_shape: list[int]
    n_classes: int | None
    n_outputs: int
    metric: str
    params: dict[str, Any]
    value: float | None
    n_params: int | None
    epochs: int | None
    seconds_per_epoch: float | None
    preprocessing: dict[str, Any] | None
    seed: int | None
    space: dict[str, str] | None
    builder_dir: str | None
    run: dict[str, int] | None
    keras: dict[str, Any]
    versions: dict[str, str | None]


class BestJson(Config, total=False):
    """best.json: a ``Config`` plus the final step's result.

    ``test_score`` is the study's metric (without ``val_``) on the test split, of the first
    seed's model (model.keras); with ``final_seeds`` > 1, ``seeds``, ``test_scores`` (one per
    seed), ``test_mean``, ``test_sd`` and ``test_ci95`` (see ``hpo.final.interval``).
    Classification adds ``test_accuracy`` and the ``confusion_matrix`` (rows: true class,
    columns: predicted), both of the first seed's model.
    ``test_loss`` is the model's loss on the test predictions without weight penalties.
    ``history`` is the retrain's loss (and accuracy) per epoch; ``others`` the other tested
    trials' summaries, by trial number.
    """

    test_score: float
    seeds: list[int]
    test_scores: list[float]
    test_mean: float
    test_sd: float
    test_ci95: list[float]
    test_accuracy: float
    test_loss: float
    confusion_matrix: list[list[int]]
    n_train: int
    n_test: int
    retrain_seconds: float
    history: dict[str, list[float | None]]
    others: dict[str, dict[str, Any]]


def best_config(study: Any, trial: Any) -> Config:
    """Everything needed to rebuild ``trial``'s model: see ``hpo.export.model_from_config``."""
    attrs = study.user_attrs
    metric = study_metric(study)
    return Config(
        study=study.study_name,
        trial=trial.number,
        model=attrs["family"],
        dataset=attrs["dataset"],
        task=attrs.get("task", CLASSIFICATION),
        input_shape=list(attrs["input_shape"]),
        n_classes=attrs.get("n_classes"),
        n_outputs=attrs.get("n_outputs", attrs.get("n_classes")),
        metric=metric,
        params=dict(trial.params),
        value=trial.values[0] if trial.values else None,  # the metric, whatever the objectives
        n_params=trial.user_attrs.get(N_PARAMS),
        epochs=trial.user_attrs.get(BEST_EPOCH, trial.user_attrs.get(EPOCHS)),
        seconds_per_epoch=trial.user_attrs.get(SECONDS_PER_EPOCH),
        preprocessing=attrs.get(PREPROCESSING),
        seed=trial.user_attrs.get(SEED),
        space=attrs.get("space"),
        builder_dir=attrs.get(BUILDER_DIR),
        run=retrain_run(study, trial),
    )


def retrain_run(study: Any, trial: Any) -> dict[str, int] | None:
    """The final retrain's run for ``trial`` (``hpo.space.Run``, how long a cosine schedule
    lasts): the study's train + validation examples, and the max_epochs the trial ran with."""
    stored = (study.user_attrs.get(SEARCH) or {}).get("retrain_run")
    if stored is None:
        return None
    return {"examples": int(stored["examples"]),
            "epochs": int(trial.user_attrs.get(MAX_EPOCHS, stored["epochs"]))}


# What study.user_attrs["final"] keeps of the final step's result.
FINAL_SUMMARY = ("trial", "metric", "test_score", "test_accuracy", "test_loss", "epochs", "n_test",
                 "test_mean", "test_sd", "test_ci95")


def final_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in FINAL_SUMMARY if k in result}


def set_user_attrs(trial: Any, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for each item: an Optuna trial, or a ``FixedTrial``."""
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
