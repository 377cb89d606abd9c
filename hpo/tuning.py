"""``hpo.tune(build, x, y, ...)``: the whole pipeline from a notebook, on arrays in memory.

The same pipeline as ``python -m hpo.run``: the arguments become a validated study definition,
the data is split once (the test split given, or carved and sealed), the builder is checked,
the study is created or resumed in the storage, trials run with pruning, and the best
configuration is retrained on train + validation and tested once::

    def build(trial):
        model = keras.Sequential([keras.Input((30,)),
                                  keras.layers.Dense(trial.suggest_int("units", 8, 64),
                                                     activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        return model  # uncompiled: hpo compiles it with the study's optimizer dimensions

    result = hpo.tune(build, x, y, trials=10)
    result.best_params, result.test_score, result.model
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpo import interrupt
from hpo.pipeline import Outcome, Pipeline
from hpo.search import RunSetup
from hpo.spec import parse_spec
from hpo.storage import DEFAULT_STORAGE, check_url

logger = logging.getLogger("hpo")


@dataclass
class TuneResult:
    """What ``tune`` found: the best params and their scores, the retrained model, the study.

    ``test_score`` is the study's metric on the held-out test split (None with ``final=False``
    or when no trial completed); ``result`` is what best.json holds.
    """

    study: optuna.Study
    metric: str
    best_params: dict[str, Any]
    best_value: float | None
    test_score: float | None = None
    test_accuracy: float | None = None
    test_mean: float | None = None  # over final_seeds retrains, with their 95% interval
    test_ci95: list[float] | None = None
    model: Any = None
    result: dict[str, Any] | None = None
    out_dir: Path | None = None


@interrupt.watched
def tune(
    build: Callable[..., Any],
    x: Any,
    y: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    *,
    validation_data: Any = None,
    test_data: Any = None,
    metric: str | None = None,
    direction: str | None = None,
    task: str | None = None,
    space: Mapping[str, Any] | None = None,
    trials: int = 20,
    max_epochs: int = 10,
    patience: int | None = None,
    timeout: float | None = None,
    validation_size: int | float = 0.2,
    test_size: int | float = 0.2,
    scale: str = "auto",
    cv_folds: int = 0,
    sampler: str | Mapping[str, Any] | None = None,
    pruner: str | Mapping[str, Any] | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    warm_start: str | None = None,
    final_seeds: int = 3,
    seed: int = 0,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    out_dir: str | Path | None = None,
    final: bool = True,
    verbose: bool = True,
) -> TuneResult:
    """Tune ``build(trial[, info])`` on ``x, y``; retrain the best and test it once.

    ``x`` may be a ``tf.data.Dataset`` or ``keras.utils.PyDataset`` of (inputs, targets), as
    ``model.fit`` takes it (``y`` None); then ``validation_data`` is required and so is
    ``test_data`` unless ``final=False`` (read once, by the final step).

    ``x_test, y_test``: the test split (else ``test_size`` of the data is carved off, seeded
    and stratified for classification). ``metric`` and ``direction`` as in a study file's
    ``[objective]`` (default val_accuracy for classification, val_loss for regression);
    ``space`` as its ``[space]`` table (ranges of hpo's named dimensions such as
    ``learning_rate``, or of names the builder reads with ``hpo.param``). ``patience``,
    ``sampler`` and ``pruner`` left as None get hpo's defaults (early stopping after 3 epochs
    without progress, except under a cosine schedule, multivariate TPE, successive halving);
    ``warm_start`` names an earlier study in ``storage`` to start from. The study is stored in
    ``storage`` under ``study_name`` (default ``tune-<build's name>``): calling again resumes
    it, until it holds ``trials`` finished trials. Raises HpoError for a bad setup, before
    anything is stored.
    """
    arguments = dict(locals())  # first, so that it holds the arguments and nothing else
    _quiet_tensorflow()
    name = study_name or f"tune-{getattr(build, '__name__', 'model')}"
    spec = parse_spec(_study_definition(build, arguments), name=name, source=f"hpo.tune({name})")
    setup = RunSetup(spec, name, check_url(storage),
                     Path(out_dir) if out_dir else Path("runs") / name)
    outcome = Pipeline(setup, arrays=_given(arguments), final=final, progress=verbose,
                       say=logger.info if verbose else _quiet).run()
    return _result(outcome)


def _quiet_tensorflow() -> None:
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:  # "triggered tf.function retracing": each trial is a
        tf_logger.setLevel(logging.ERROR)  # new model, retracing is expected


def _study_definition(build: Callable[..., Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """``tune``'s arguments as a study file's tables (``hpo.spec.parse_spec`` checks them)."""
    a = dict(args)
    objective = {k: a[k] for k in ("metric", "direction") if a[k]}
    data = {"dataset": "pipeline" if _streamed(a) else "arrays",
            "validation_size": a["validation_size"],
            "test_size": a["test_size"], "scale": a["scale"], "cv_folds": a["cv_folds"],
            **({"task": a["task"]} if a["task"] else {})}
    budget = {"trials": a["trials"], "max_epochs": a["max_epochs"],
              **({"patience": a["patience"]} if a["patience"] is not None else {}),
              **({"timeout": a["timeout"]} if a["timeout"] else {})}
    raw: dict[str, Any] = {
        "model": build, "seed": a["seed"], "data": data, "objective": objective,
        "final_seeds": a["final_seeds"], "budget": budget, "space": dict(a["space"] or {}),
        "enqueue": [dict(e) for e in a["enqueue"]],
        **({"warm_start": a["warm_start"]} if a["warm_start"] else {}),
    }
    for key in ("sampler", "pruner"):
        if a[key] is not None:
            raw[key] = {"name": a[key]} if isinstance(a[key], str) else dict(a[key])
    return raw


def _streamed(a: Mapping[str, Any]) -> bool:
    from hpo.streams import is_pipeline

    return is_pipeline(a["x"]) or a["validation_data"] is not None


def _given(a: Mapping[str, Any]) -> Any:
    """``tune``'s data: ``(x, y, x_test, y_test)`` arrays, or the pipelines."""
    from hpo.errors import DataError
    from hpo.streams import Pipelines, is_pipeline

    if not _streamed(a):
        return a["x"], a["y"], a["x_test"], a["y_test"]
    if is_pipeline(a["x"]) and a["y"] is not None:
        raise DataError("y must be None when x is a dataset: it yields (inputs, targets)")
    if a["x_test"] is not None or a["y_test"] is not None:
        if a["test_data"] is not None:
            raise DataError("x_test, y_test and test_data are given; give the test split once")
        a = {**a, "test_data": (a["x_test"], a["y_test"])}
    train = a["x"] if is_pipeline(a["x"]) else (a["x"], a["y"])
    return Pipelines(train, a["validation_data"], a["test_data"])


def _result(outcome: Outcome) -> TuneResult:
    from hpo import pareto

    run, final = outcome.run, outcome.final or {}
    best = pareto.best_trial(run.study)
    return TuneResult(
        run.study, run.spec.metric, dict(best.params) if best else {},
        best.values[0] if best else None, test_score=final.get("test_score"),
        test_accuracy=final.get("test_accuracy"),
        test_mean=final.get("test_mean", final.get("test_score")),
        test_ci95=final.get("test_ci95"), model=outcome.model, result=outcome.final,
        out_dir=run.setup.out_dir)


def _quiet(line: str) -> None:
    """``verbose=False``: the pipeline's lines go nowhere."""
