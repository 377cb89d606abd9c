"""The final step: retrain the best trial on train + validation, test it once, write it out.

A multi-objective study retrains and tests every member of its Pareto front and writes them to
``front.json``; best.json and model.keras are the member recommended on validation (see
``hpo.pareto``).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
from sklearn.metrics import accuracy_score, confusion_matrix

from hpo import interrupt, pareto, record
from hpo.builders import Builder, describe, load_builder, rebuild, versions
from hpo.checkpoints import CheckpointStore, restore
from hpo.data import Dataset, FinalSplit
from hpo.fit import STEPS_PER_EXECUTION, new_session, released_gradients
from hpo.objective import rounded, trial_seed
from hpo.record import best_config
from hpo.results import tested
from hpo.space import Run, param, sampling
from hpo.spec import StudySpec
from hpo.tasks import CLASSIFICATION

logger = logging.getLogger(__name__)


def retrain_and_test(
    spec: StudySpec,
    study: optuna.Study,
    data: Dataset,
    out_dir: Path,
    others: Sequence[optuna.trial.FrozenTrial] = (),
    builder: Builder | None = None,
) -> dict[str, Any]:
    """Retrain the study's best trial (a multi-objective study's recommended front member) on
    train + validation and evaluate it once on test.

    Writes ``out_dir/best.json`` and ``out_dir/model.keras``; returns what best.json holds
    (``hpo.record.BestJson``): the trial's config plus the test scores, the retrain's
    ``history`` and, for a classifier, the test ``confusion_matrix`` (rows: true class, columns:
    predicted class). ``others`` are retrained and tested too (a study that reports every
    setting's test score); their results are under ``"others"``, keyed by trial number. The
    test split is opened once.
    """
    return retrain_and_test_model(spec, study, data, out_dir, others, builder)[1]


def retrain_and_test_model(
    spec: StudySpec,
    study: optuna.Study,
    data: Dataset,
    out_dir: Path,
    others: Sequence[optuna.trial.FrozenTrial] = (),
    builder: Builder | None = None,
    store: CheckpointStore | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """``retrain_and_test``, and the retrained model with what best.json holds. ``store``:
    where each retrain writes a checkpoint per epoch; with it, a rerun after an interruption
    keeps the retrains already tested and resumes the one that was running."""
    spec = spec if spec.metric else spec.for_task(data.search.task)
    builder = builder or load_builder(spec.model, spec.data.base_dir)
    best = pareto.best_trial(study)
    if best is None:
        raise ValueError(f"study '{study.study_name}' has no completed trial to retrain")
    split = data.search.final_split(data.test, spec.seed)
    progress = FinalProgress(study, store, best.number)

    def retrain_and_score(trial: optuna.trial.FrozenTrial) -> tuple[keras.Model, dict[str, Any]]:
        config = dict(best_config(study, trial))
        config["preprocessing"] = split.preprocessing
        model, retrained = _retrain(spec, builder, trial, data, split, int(config["epochs"]),
                                    progress=progress)
        config.update(seed=trial_seed(spec, trial.number), keras=describe(model),
                      versions=versions())
        return model, {**config, **_score(spec, model, retrained, data, split.test)}

    out_dir.mkdir(parents=True, exist_ok=True)
    model, result = progress.first(out_dir / "model.keras")
    if result is None:
        model, result = retrain_and_score(best)
        (split.wrap(model) if split.wrap else model).save(out_dir / "model.keras")
        progress.put("first", result)
    if spec.final_seeds > 1:
        result.update(_over_seeds(spec, builder, best, data, split, result, progress))
    tested = {t.number: progress.get(f"other-{t.number}") or progress.put(
        f"other-{t.number}", retrain_and_score(t)[1]) for t in others if t.number != best.number}
    if tested:
        result["others"] = {str(n): record.final_summary(r) for n, r in tested.items()}
    (out_dir / "best.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    study.set_user_attr(record.FINAL, record.final_summary(result))
    if tested:
        study.set_user_attr(record.FINAL_OTHERS, result["others"])
    progress.finish()
    return model, result


class FinalProgress:
    """What the final step has done so far, kept in the study (``record.FINAL_PROGRESS``) so that
    a rerun after an interruption keeps the retrains already tested, and resumes the one that
    was running from its per-epoch checkpoint (``store``; None: no checkpoints)."""

    def __init__(self, study: optuna.Study, store: CheckpointStore | None, trial: int) -> None:
        self.study, self.store, self.trial = study, store, trial
        saved = study.user_attrs.get(record.FINAL_PROGRESS) or {}
        self.done: dict[str, Any] = dict(saved.get("done", {})) \
            if saved.get("trial") == trial else {}
        if self.done:
            logger.info("final step: keeping %d retrain(s) already tested (%s)",
                        len(self.done), ", ".join(self.done))

    def get(self, key: str) -> Any:
        return self.done.get(key)

    def put(self, key: str, result: Any) -> Any:
        self.done[key] = result
        self.study.set_user_attr(record.FINAL_PROGRESS, {"trial": self.trial, "done": self.done})
        return result

    def first(self, path: Path) -> tuple[Any, dict[str, Any] | None]:
        """The first retrain's model (as saved) and result, if a run before this one made it."""
        result = self.get("first")
        if result is None or not path.is_file():
            return None, None
        return keras.saving.load_model(path), dict(result)

    def finish(self) -> None:
        self.study.set_user_attr(record.FINAL_PROGRESS, None)


# Seeds of the extra retrains: far from the trials' own (seed + trial number).
SEED_STRIDE = 10_007


def seeds_for(first: int, n: int) -> list[int]:
    return [first + SEED_STRIDE * i for i in range(n)]


def _over_seeds(spec: StudySpec, builder: Builder, trial: optuna.trial.FrozenTrial,
                data: Dataset, split: FinalSplit, first: dict[str, Any],
                progress: FinalProgress) -> dict[str, Any]:
    """Retrain ``trial`` with ``spec.final_seeds - 1`` more seeds and test each: the test
    score's mean, spread and a 95% interval (``interval``). ``first``: the first seed's result.
    """
    seeds = seeds_for(first["seed"], spec.final_seeds)
    scores = [first["test_score"]]
    for seed in seeds[1:]:
        score = progress.get(f"seed-{seed}")
        if score is None:
            model, retrained = _retrain(spec, builder, trial, data, split, int(first["epochs"]),
                                        seed, progress)
            score = progress.put(f"seed-{seed}",
                                 _score(spec, model, retrained, data, split.test)["test_score"])
        scores.append(score)
    mean = statistics.fmean(scores)
    sd = statistics.stdev(scores)
    metric = first["metric"].removeprefix("val_")
    accuracy_like = metric in ("accuracy", "binary_accuracy", "sparse_categorical_accuracy")
    bounded = any(word in metric for word in ("accuracy", "auc", "precision", "recall"))
    low, high = interval(mean, sd, len(scores), first["n_test"] if accuracy_like else None,
                         bounded)
    return {"seeds": seeds, "test_scores": scores, "test_mean": mean, "test_sd": sd,
            "test_ci95": [low, high]}


def interval(mean: float, sd: float, k: int, n_test: int | None, bounded: bool = False
             ) -> tuple[float, float]:
    """A 95% interval for the expected test score of the configuration: the seed spread
    (Student's t with k - 1 degrees of freedom on the mean of k seeds) and, for an accuracy, the
    test set's own sampling error (binomial, on n_test examples), added in quadrature.
    ``bounded``: the score lies in [0, 1] (an accuracy, an AUC), and so does the interval."""
    from scipy import stats

    seed_part = stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k)
    test_part = 0.0
    if n_test:
        p = min(max(mean, 0.0), 1.0)
        test_part = 1.96 * math.sqrt(p * (1 - p) / n_test)
    half = math.hypot(seed_part, test_part)
    if bounded:
        return max(0.0, mean - half), min(1.0, mean + half)
    return mean - half, mean + half


FRONT_FILE = "front.json"


def write_front(study: optuna.Study, result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/front.json``: each Pareto front member of a multi-objective study with
    its validation and test scores, smallest first, and which one is recommended (and why).

    ``result`` is what ``retrain_and_test`` returned with the front among its ``others``.
    """
    scores = tested(result)
    metric = record.study_metric(study)
    members = []
    for trial in pareto.front(study):
        test = scores.get(trial.number)
        if test is None:
            raise ValueError(f"front member {trial.number} was not retrained and tested; pass "
                             f"the front as retrain_and_test's others")
        members.append({
            "trial": trial.number,
            "params": dict(trial.params),
            "validation_accuracy" if metric == "val_accuracy" else metric:
                pareto.accuracy(trial),
            "n_params": pareto.size(trial),
            "epochs": test["epochs"],
            "test_score": test.get("test_score"),
            "test_accuracy": test.get("test_accuracy"),
            "test_loss": test.get("test_loss"),
            "recommended": trial.number == result["trial"],
        })
    front = {
        "study": study.study_name,
        "objectives": study.user_attrs.get("objectives"),
        "metric": metric,
        "recommended": result["trial"],
        "rule": f"chosen on validation only: {pareto.RULE}",
        "members": members,
    }
    path = out_dir / FRONT_FILE
    path.write_text(json.dumps(front, indent=2) + "\n", encoding="utf-8")
    return path


def _retrain(spec: StudySpec, builder: Builder, trial: optuna.trial.FrozenTrial, data: Dataset,
             split: FinalSplit, epochs: int, seed: int | None = None,
             progress: FinalProgress | None = None) -> tuple[keras.Model, dict[str, Any]]:
    """``trial``'s model, trained with ``seed`` (default: the trial's own) on the final split's
    training part (train + validation) for ``epochs``."""
    seed = trial_seed(spec, trial.number) if seed is None else seed
    new_session(seed, free_memory=True)
    # The trial's schedule over the max_epochs it ran with, on this run's examples: epoch by
    # epoch the learning rate the trial had (it stops at ``epochs``, the trial's best).
    span = int(trial.user_attrs.get(record.MAX_EPOCHS, spec.budget.max_epochs))
    model = rebuild(builder, trial.params, data.search.info(), STEPS_PER_EXECUTION,
                    Run(split.n_train, span))
    feeder = split.feeder()  # fed as the trial was
    logger.info("retraining trial %d on %d examples for %d epochs (seed %d)", trial.number,
                split.n_train, epochs, seed)
    start = time.perf_counter()
    with sampling(fixed=trial.params):
        batch_size = int(param(optuna.trial.FixedTrial(dict(trial.params)), "batch_size"))
    checkpoint = RetrainCheckpoint(progress.store if progress else None,
                                   f"final-{trial.number}-{seed}",
                                   list(dict.fromkeys(["loss", spec.metric.removeprefix("val_")])))
    first = checkpoint.resume(model)
    with released_gradients():
        model.fit(feeder.train(batch_size), epochs=epochs, initial_epoch=first, shuffle=False,
                  verbose=0, callbacks=[feeder.order_callback(), checkpoint])
    interrupt.raise_if_requested()  # Ctrl-C that TensorFlow swallowed: no test, no next seed
    checkpoint.remove()
    return model, {
        "n_train": int(split.n_train),
        "retrain_seconds": round(time.perf_counter() - start, 2),
        "history": {key: [rounded(v) for v in values]
                    for key, values in checkpoint.history.items()},
    }


class RetrainCheckpoint(keras.callbacks.Callback):
    """Keeps a retrain's history, and (with a ``store``) writes its checkpoint each epoch;
    ``resume`` puts an earlier run's checkpoint of the same retrain back in the model."""

    def __init__(self, store: CheckpointStore | None, key: str, keys: list[str]) -> None:
        super().__init__()
        self.store, self.key = store, key
        self.history: dict[str, list[float | None]] = {k: [] for k in keys}

    def resume(self, model: keras.Model) -> int:
        """The epoch to go on from: after the checkpoint's, if there is one (else 0)."""
        saved = self.store.load(self.key) if self.store else None
        if saved is None:
            return 0
        try:
            restore(model, saved)
        except ValueError:
            return 0
        self.history = {k: list(saved.state["history"].get(k, [])) for k in self.history}
        logger.info("%s resumed at epoch %d (%d epochs kept)", self.key, saved.epoch + 1,
                    saved.epoch)
        return saved.epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, values in self.history.items():
            value = (logs or {}).get(key)
            values.append(None if value is None else float(value))
        if self.store is not None:
            self.store.save(self.key, self.model, {"epoch": epoch + 1, "history": self.history})

    def remove(self) -> None:
        if self.store is not None:
            self.store.remove(self.key)


def _evaluate(model: keras.Model, test: Any, outputs: bool
              ) -> tuple[dict[str, float], np.ndarray | None, np.ndarray]:
    """The model's metrics on ``test`` (``(x, y)`` arrays or a pipeline), its outputs (when
    ``outputs``) and the test targets."""
    if isinstance(test, tuple):
        x, y = test
        scores = model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)
        return scores, model.predict(x, batch_size=1024, verbose=0) if outputs else None, y
    from hpo.streams import is_batched

    batches = test if is_batched(test) else test.batch(1024)
    with warnings.catch_warnings():  # a pipeline of unknown length: Keras learns it by reading
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        scores = model.evaluate(batches, verbose=0, return_dict=True)
    targets, predicted = [], []
    for x, y in batches:  # a second pass: the targets, and the outputs in the same order
        targets.append(np.asarray(y))
        if outputs:
            predicted.append(np.asarray(model.predict_on_batch(x)))
    return scores, np.concatenate(predicted) if outputs else None, np.concatenate(targets)


def _score(spec: StudySpec, model: keras.Model, retrained: dict[str, Any], data: Dataset,
           test: Any) -> dict[str, Any]:
    """The study's metric on the test split, and for a classifier its accuracy, loss and
    confusion matrix from one pass of predictions."""
    metric = spec.metric.removeprefix("val_")
    classify = data.search.task == CLASSIFICATION
    scores, outputs, y_test = _evaluate(model, test, classify)
    result: dict[str, Any] = {"metric": spec.metric}
    if metric not in scores:
        raise ValueError(f"the retrained model logs no {metric} on test; it logs "
                         f"{', '.join(scores)}")
    result["test_score"] = float(scores[metric])
    if classify:
        if outputs.shape[-1] == 1:  # one sigmoid output: the probability of class 1
            predicted = (outputs[:, 0] > 0.5).astype(int)
        else:
            predicted = np.argmax(outputs, axis=1)
        # The model's own loss on the predictions alone: unlike model.evaluate's loss, no weight
        # or activity penalty is added, so it measures the fit to the test labels only.
        labels_shaped = y_test.reshape(-1, 1) if outputs.shape[-1] == 1 else y_test
        test_loss = keras.ops.mean(model.loss(labels_shaped, outputs)) \
            if callable(model.loss) else scores["loss"]
        labels = list(range(int(data.search.n_classes or 0)))
        result.update(
            test_accuracy=float(accuracy_score(y_test, predicted)),
            test_loss=float(test_loss),
            confusion_matrix=confusion_matrix(y_test, predicted, labels=labels).tolist(),
        )
        if data.search.classes is not None:
            result["classes"] = [str(c) for c in data.search.classes]
    else:
        result["test_loss"] = float(scores["loss"])
    return dict(
        **result,
        n_params=int(model.count_params()),
        n_test=int(len(y_test)),
        **retrained,
    )

