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

import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpo import interrupt
from hpo.errors import HpoError
from hpo.search import RunSetup, enqueue_first, open_run, process_tag, run_trials
from hpo.spec import parse_spec
from hpo.storage import DEFAULT_STORAGE, check_url, count_finished

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
    y: Any,
    x_test: Any = None,
    y_test: Any = None,
    *,
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
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:  # "triggered tf.function retracing": each trial is a
        tf_logger.setLevel(logging.ERROR)  # new model, retracing is expected
    name = study_name or f"tune-{getattr(build, '__name__', 'model')}"
    objective = {k: v for k, v in (("metric", metric), ("direction", direction)) if v}
    data = {"dataset": "arrays", "validation_size": validation_size, "test_size": test_size,
            "scale": scale, "cv_folds": cv_folds, **({"task": task} if task else {})}
    raw = {
        "model": build, "seed": seed, "data": data, "objective": objective,
        "final_seeds": final_seeds,
        "budget": {"trials": trials, "max_epochs": max_epochs,
                   **({"patience": patience} if patience is not None else {}),
                   **({"timeout": timeout} if timeout else {})},
        "space": dict(space or {}), "enqueue": [dict(e) for e in enqueue],
        **({"warm_start": warm_start} if warm_start else {}),
    }
    for key, value in (("sampler", sampler), ("pruner", pruner)):
        if value is not None:
            raw[key] = {"name": value} if isinstance(value, str) else dict(value)
    spec = parse_spec(raw, name=name, source=f"hpo.tune({name})")
    setup = RunSetup(spec, name, check_url(storage),
                     Path(out_dir) if out_dir else Path("runs") / name)
    run = open_run(setup, arrays=(x, y, x_test, y_test))
    spec, study = run.spec, run.study
    enqueue_first(spec, study, run.warm)
    remaining = spec.budget.trials - count_finished(study)
    if remaining > 0:
        from hpo.progress import TrialProgress

        callbacks = [TrialProgress(spec.budget.trials, count_finished(study))] if verbose else []
        started = datetime.datetime.now()
        try:
            run_trials(spec, study, run.data.search, remaining, callbacks=callbacks,
                       builder=run.builder, warm=run.warm)
        except KeyboardInterrupt:
            from hpo.storage import fail_orphans

            fail_orphans(run.storage, study, {process_tag()}, started)
            raise
    from hpo import pareto

    best = pareto.best_trial(study)
    outcome = TuneResult(study, spec.metric, dict(best.params) if best else {},
                         best.values[0] if best else None, out_dir=setup.out_dir)
    if final and best is not None:
        from hpo.final import retrain_and_test_model

        outcome.model, outcome.result = retrain_and_test_model(
            spec, study, run.data, setup.out_dir, builder=run.builder)
        outcome.test_score = outcome.result["test_score"]
        outcome.test_accuracy = outcome.result.get("test_accuracy")
        outcome.test_mean = outcome.result.get("test_mean", outcome.test_score)
        outcome.test_ci95 = outcome.result.get("test_ci95")
        if verbose:
            logger.info("held-out test %s: %.4g (trial %d retrained, tested once on %d)",
                        spec.metric.removeprefix("val_"), outcome.test_score,
                        outcome.result["trial"], outcome.result["n_test"])
    elif final:
        raise HpoError(f"no trial of study '{name}' completed, so there is nothing to retrain; "
                       f"see the trials' fail_reason (study.trials)")
    _write_outputs(spec, study, setup.out_dir, outcome.result)
    return outcome


def _write_outputs(spec: Any, study: optuna.Study, out_dir: Path,
                   final: dict[str, Any] | None) -> None:
    from hpo.report import write_report
    from hpo.results import results_rows, tested, write_results

    tests = {n: r["test_score"] for n, r in tested(final).items()} if final else None
    rows = results_rows(spec, study, tests)
    if rows:
        write_results(rows, out_dir)
    write_report(study, out_dir, final)
