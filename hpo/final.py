"""The final step: retrain the best trial on train + validation, test it once, write it out.

A multi-objective study retrains and tests every member of its Pareto front and writes them to
``front.json``; best.json and model.keras are the member recommended on validation (see
``hpo.pareto``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
from sklearn.metrics import accuracy_score, confusion_matrix

from hpo import pareto
from hpo.data import Dataset
from hpo.fit import STEPS_PER_EXECUTION, Feeder, released_gradients
from hpo.models import build_model
from hpo.objective import rounded, trial_seed
from hpo.results import tested
from hpo.space import DIMENSIONS
from hpo.spec import StudySpec

logger = logging.getLogger(__name__)


def best_config(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Everything needed to rebuild ``trial``'s model: see ``hpo.export.model_from_config``."""
    attrs = study.user_attrs
    return {
        "study": study.study_name,
        "trial": trial.number,
        "family": attrs["family"],
        "dataset": attrs["dataset"],
        "input_shape": list(attrs["input_shape"]),
        "n_classes": attrs["n_classes"],
        "params": dict(trial.params),
        "value": pareto.accuracy(trial),  # validation accuracy, whatever the objectives
        "n_params": trial.user_attrs.get("n_params"),
        "epochs": trial.user_attrs.get("best_epoch", trial.user_attrs.get("epochs")),
        "seconds_per_epoch": trial.user_attrs.get("seconds_per_epoch"),
    }


def retrain_and_test(
    spec: StudySpec,
    study: optuna.Study,
    data: Dataset,
    out_dir: Path,
    others: Sequence[optuna.trial.FrozenTrial] = (),
) -> dict[str, Any]:
    """Retrain the study's best trial (a multi-objective study's recommended front member) on
    train + validation and evaluate it once on test.

    Writes ``out_dir/best.json`` and ``out_dir/model.keras``; returns what best.json holds:
    ``best_config`` plus the test scores, the retrain's ``history`` (loss and accuracy per
    epoch) and the test ``confusion_matrix`` (rows: true class, columns: predicted class).
    ``others`` are retrained and tested too (a study that reports every setting's test score);
    their results are under ``"others"``, keyed by trial number. The test split is opened once.
    """
    x_test, y_test = data.test.open()

    def retrain_and_score(trial: optuna.trial.FrozenTrial) -> tuple[keras.Model, dict[str, Any]]:
        config = best_config(study, trial)
        model, retrained = _retrain(spec, trial, data, int(config["epochs"]))
        return model, {**config, **_score(model, retrained, data, x_test, y_test)}

    best = pareto.best_trial(study)
    if best is None:
        raise ValueError(f"study '{study.study_name}' has no completed trial to retrain")
    model, result = retrain_and_score(best)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "model.keras")
    tested = {t.number: retrain_and_score(t)[1] for t in others if t.number != best.number}
    if tested:
        result["others"] = {str(n): {k: r[k] for k in _SUMMARY} for n, r in tested.items()}
    (out_dir / "best.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    study.set_user_attr("final", {k: result[k] for k in _SUMMARY})
    if tested:
        study.set_user_attr("final_others", result["others"])
    return result


_SUMMARY = ("trial", "test_accuracy", "test_loss", "epochs")
FRONT_FILE = "front.json"


def write_front(study: optuna.Study, result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/front.json``: each Pareto front member of a multi-objective study with
    its validation and test scores, smallest first, and which one is recommended (and why).

    ``result`` is what ``retrain_and_test`` returned with the front among its ``others``.
    """
    scores = tested(result)
    members = []
    for trial in pareto.front(study):
        test = scores.get(trial.number)
        if test is None:
            raise ValueError(f"front member {trial.number} was not retrained and tested; pass "
                             f"the front as retrain_and_test's others")
        members.append({
            "trial": trial.number,
            "params": dict(trial.params),
            "validation_accuracy": pareto.accuracy(trial),
            "n_params": pareto.size(trial),
            "epochs": test["epochs"],
            "test_accuracy": test["test_accuracy"],
            "test_loss": test["test_loss"],
            "recommended": trial.number == result["trial"],
        })
    front = {
        "study": study.study_name,
        "objectives": study.user_attrs.get("objectives"),
        "recommended": result["trial"],
        "rule": f"chosen on validation only: {pareto.RULE}",
        "members": members,
    }
    path = out_dir / FRONT_FILE
    path.write_text(json.dumps(front, indent=2) + "\n", encoding="utf-8")
    return path


def _retrain(spec: StudySpec, trial: optuna.trial.FrozenTrial, data: Dataset,
             epochs: int) -> tuple[keras.Model, dict[str, Any]]:
    """``trial``'s model, trained with its seed on train + validation for ``epochs``."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(trial_seed(spec, trial.number))
    model = build_model(trial.params, data.search.input_shape, data.search.n_classes,
                        spec.family, steps_per_execution=STEPS_PER_EXECUTION)
    x, y = data.search.train_and_validation()
    feeder = Feeder(x, y, seed=spec.seed)  # fed as the trial was
    logger.info("retraining trial %d on %d examples for %d epochs", trial.number, len(y), epochs)
    start = time.perf_counter()
    batch_size = trial.params.get("batch_size", DIMENSIONS["batch_size"].default)
    with released_gradients():
        fitted = model.fit(feeder.train(batch_size), epochs=epochs, shuffle=False, verbose=0)
    return model, {
        "n_train": int(len(y)),
        "retrain_seconds": round(time.perf_counter() - start, 2),
        "history": {key: [rounded(v) for v in fitted.history.get(key, [])]
                    for key in ("loss", "accuracy")},
    }


def _score(model: keras.Model, retrained: dict[str, Any], data: Dataset,
           x_test: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
    # One pass over the test split; every test score comes from these predictions.
    outputs = model.predict(x_test, batch_size=1024, verbose=0)
    predicted = np.argmax(outputs, axis=1)
    # The model's own loss on the predictions alone: unlike model.evaluate's loss, no weight or
    # activity penalty is added, so it measures the fit to the test labels only.
    test_loss = keras.ops.mean(model.loss(y_test, outputs))
    labels = list(range(data.search.n_classes))
    return dict(
        test_accuracy=float(accuracy_score(y_test, predicted)),
        test_loss=float(test_loss),
        n_params=int(model.count_params()),
        n_test=int(len(y_test)),
        **retrained,
        confusion_matrix=confusion_matrix(y_test, predicted, labels=labels).tolist(),
    )
