from __future__ import annotations

import dataclasses
import math
import statistics

import keras
import numpy as np
import optuna
import pytest
from conftest import TINY_STUDY

import hpo.fit
import hpo.objective
from hpo.data import SearchData, load_dataset
from hpo.fit import Feeder
from hpo.objective import (
    HISTORY_KEYS,
    best_epoch,
    follows_a_cosine,
    make_objective,
    rounded,
)
from hpo.spec import DataSpec, parse_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataSpec("digits", validation_size=0.2), seed=0)


def assert_recorded(trial, epochs):
    """The user attributes every trial has, whatever its state (the dashboard's columns)."""
    attrs = trial.user_attrs
    assert {"n_params", "epochs", "seconds_per_epoch", "history"} <= set(attrs)
    assert attrs["epochs"] == epochs
    assert set(attrs["history"]) == set(HISTORY_KEYS)
    assert all(len(values) == epochs for values in attrs["history"].values())


def tiny_spec(cv_folds: int = 0, max_epochs: int = 2, **space_pins):
    import tomllib

    raw = tomllib.loads(TINY_STUDY)
    raw["space"].update(space_pins)
    raw["data"]["cv_folds"] = cv_folds
    raw["budget"]["max_epochs"] = max_epochs
    return parse_spec(raw, name="tiny")


def test_objective_returns_validation_accuracy_and_records_the_trial(data):
    spec = tiny_spec(optimizer="adam", learning_rate=0.01)
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and 0.0 <= trial.value <= 1.0
    attrs = trial.user_attrs
    assert attrs["n_params"] > 0 and attrs["epochs"] == spec.budget.max_epochs
    assert attrs["seconds_per_epoch"] > 0 and 1 <= attrs["best_epoch"] <= attrs["epochs"]
    # Every pinned and sampled dimension is stored with the trial.
    assert {"optimizer", "learning_rate", "batch_size", "n_layers", "units_1"} <= set(trial.params)
    assert_recorded(trial, spec.budget.max_epochs)
    history = attrs["history"]
    assert max(history["val_accuracy"]) == pytest.approx(trial.value, rel=1e-4)
    assert history["val_accuracy"][attrs["best_epoch"] - 1] == max(history["val_accuracy"])
    assert all(isinstance(v, float) for values in history.values() for v in values)


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(data):
    spec = tiny_spec(optimizer="sgd", learning_rate=[100.0, 0.01], activation="relu")
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"learning_rate": 100.0})
    study.enqueue_trial({"learning_rate": 0.01})
    study.optimize(make_objective(spec, data.search), n_trials=2)
    diverged, sane = study.trials
    assert diverged.state.name == "FAIL"
    assert "diverged: training loss" in diverged.user_attrs["fail_reason"]
    assert diverged.user_attrs["n_params"] > 0
    assert_recorded(diverged, 1)
    assert sane.state.name == "COMPLETE"


def test_a_trial_whose_builder_raises_fails_with_its_reason_and_its_attributes(data):
    def broken(trial):
        raise ValueError("no such layer\nsecond line")

    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(tiny_spec(), data.search, builder=broken), n_trials=1,
                   catch=(ValueError,))
    trial = study.trials[0]
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["fail_reason"] == "ValueError: no such layer"
    assert trial.user_attrs["n_params"] is None and trial.user_attrs["seconds_per_epoch"] is None
    assert_recorded(trial, 0)


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_the_pruning_callback_stops_a_trial_after_one_epoch(data):
    spec = tiny_spec()
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "PRUNED"
    # Epochs counted from 1, in hpo's words, with the score that was behind.
    assert trial.user_attrs["epochs"] == 1 and trial.user_attrs["pruned_reason"].startswith(
        "pruned after epoch 1: val_accuracy ")
    assert list(trial.intermediate_values) == [0]
    assert_recorded(trial, 1)
    assert trial.user_attrs["history"]["val_accuracy"][0] == pytest.approx(
        trial.intermediate_values[0], rel=1e-4)


def test_the_objective_is_given_no_way_to_the_test_split(data):
    # The objective is built from the search splits alone: they carry no test arrays.
    fields = {f.name for f in dataclasses.fields(SearchData)}
    assert fields == {"x_train", "y_train", "x_val", "y_val", "n_classes", "task", "scaling",
                      "classes", "raw_train", "raw_val"}
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(tiny_spec(), data.search), n_trials=2)
    assert data.test.opened == 0


def test_history_values_are_rounded_and_json_safe():
    assert rounded(0.123456789) == 0.12346 and rounded(2.0e-7 / 3) == 6.6667e-08
    assert rounded(None) is None and rounded(float("nan")) is None and rounded(float("inf")) is None


# -- cross-validation: [data] cv_folds = k ---------------------------------------------------

def test_a_cv_trial_scores_the_mean_of_its_k_folds_and_reports_per_fold(data):
    spec = tiny_spec(cv_folds=3, optimizer="adam", learning_rate=0.01)
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    attrs = trial.user_attrs
    folds = attrs["fold_scores"]
    assert len(folds) == 3 and all(0.0 < score <= 1.0 for score in folds)
    assert trial.value == pytest.approx(statistics.fmean(folds), rel=1e-4)
    assert attrs["cv_std"] == pytest.approx(statistics.stdev(folds), rel=1e-3, abs=1e-5)
    # The pruner sees the running mean after each fold, never per-epoch values.
    assert list(trial.intermediate_values) == [0, 1, 2]
    assert trial.intermediate_values[0] == pytest.approx(folds[0], rel=1e-4)
    assert trial.intermediate_values[2] == pytest.approx(trial.value)
    assert isinstance(attrs["best_epoch"], int) and 1 <= attrs["best_epoch"] <= 2
    # Epochs are what the trial trained, over all folds; the history is the first fold's.
    assert attrs["epochs"] == 3 * 2 and attrs["seconds_per_epoch"] > 0
    assert max(attrs["history"]["val_accuracy"]) == pytest.approx(folds[0], rel=1e-4)
    assert all(len(values) == 2 for values in attrs["history"].values())


class _PruneAtStep(optuna.pruners.BasePruner):
    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial):
        return trial.last_step == self.step


def test_a_bad_cv_trial_is_pruned_before_its_remaining_folds_run(data):
    spec = tiny_spec(cv_folds=3, max_epochs=1)
    # No model reaches 99% on digits in one epoch: the first fold's mean is below the bar.
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "PRUNED"
    assert len(trial.user_attrs["fold_scores"]) == 1 and trial.user_attrs["epochs"] == 1
    assert list(trial.intermediate_values) == [0]
    assert trial.user_attrs["pruned_reason"].startswith("pruned after fold 1 of 3")
    assert trial.user_attrs["cv_std"] is None
    assert_recorded(trial, 1)


def test_a_cv_trial_whose_every_fold_ran_is_not_pruned(data):
    # Pruning after the last fold would save nothing and throw a full result away.
    study = optuna.create_study(direction="maximize", pruner=_PruneAtStep(1))
    study.optimize(make_objective(tiny_spec(cv_folds=2, max_epochs=1), data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and len(trial.user_attrs["fold_scores"]) == 2


def test_a_cv_trial_that_diverges_in_a_fold_fails_with_the_fold_named(data):
    spec = tiny_spec(cv_folds=2, max_epochs=1, optimizer="sgd", learning_rate=100.0,
                     activation="relu")
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["fail_reason"].startswith("diverged: training loss")
    assert trial.user_attrs["fail_reason"].endswith("(fold 1 of 2)")
    assert trial.user_attrs["fold_scores"] == [] and "best_epoch" not in trial.user_attrs


def test_cv_folds_validate_every_non_test_example_once_and_never_a_test_one(
        tmp_path, monkeypatch):
    # Every image is filled with its own id: train ids 0..119, test ids 120..159.
    ids = np.arange(160, dtype=np.uint8)
    images = np.broadcast_to(ids[:, None, None], (160, 4, 4)).copy()
    labels = (ids % 3).astype(np.uint8)
    path = tmp_path / "ids.npz"
    np.savez(path, x_train=images[:120], y_train=labels[:120], x_test=images[120:],
             y_test=labels[120:])
    spec = dataclasses.replace(tiny_spec(), data=DataSpec("npz", validation_size=0.25,
                                                          path=str(path), cv_folds=4))
    dataset = load_dataset(spec.data, seed=spec.seed)
    fed = []

    class Spy(Feeder):
        def __init__(self, x, y, x_val=None, y_val=None, seed=0):
            fed.append((np.rint(x[:, 0, 0, 0] * 255).astype(int),
                        np.rint(x_val[:, 0, 0, 0] * 255).astype(int)))
            super().__init__(x, y, x_val, y_val, seed)

    monkeypatch.setattr(hpo.fit, "Feeder", Spy)  # SearchData.feeders makes them
    make_objective(spec, dataset.search)
    assert len(fed) == 4
    search_ids = list(range(120))
    assert sorted(np.concatenate([val for _, val in fed]).tolist()) == search_ids
    for train, val in fed:
        assert sorted([*train, *val]) == search_ids
    assert dataset.test.opened == 0


# -- two objectives: objectives = ["accuracy", "n_params"] -----------------------------------

def pareto_spec(**pins):
    spec = tiny_spec(**pins)
    return dataclasses.replace(spec, objectives=("accuracy", "n_params"))


def test_a_two_objective_trial_returns_accuracy_and_size_and_reports_no_epochs(data):
    spec = pareto_spec(optimizer="adam", learning_rate=0.01)
    study = optuna.create_study(directions=spec.directions)
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    accuracy, n_params = trial.values
    assert accuracy == pytest.approx(max(trial.user_attrs["history"]["val_accuracy"]), rel=1e-4)
    assert n_params == trial.user_attrs["n_params"] > 0
    # Optuna's trial.report raises for multi-objective studies: no pruning callback ran.
    assert trial.intermediate_values == {}


def test_a_diverging_two_objective_trial_fails_with_no_value_left(data):
    spec = pareto_spec(optimizer="sgd", learning_rate=100.0, activation="relu")
    values = hpo.objective.failed(spec)
    assert len(values) == 2 and all(math.isnan(v) for v in values)  # no half looks like a score
    study = optuna.create_study(directions=spec.directions)
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "FAIL" and trial.values is None
    assert "diverged: training loss" in trial.user_attrs["fail_reason"]
    assert study.best_trials == []


def test_a_cross_validated_two_objective_trial_scores_the_fold_mean(data):
    spec = pareto_spec(optimizer="adam", learning_rate=0.01)
    spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, cv_folds=2),
                               budget=dataclasses.replace(spec.budget, max_epochs=1))
    study = optuna.create_study(directions=spec.directions)
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and trial.intermediate_values == {}
    assert trial.values[0] == pytest.approx(statistics.fmean(trial.user_attrs["fold_scores"]),
                                            rel=1e-4)
    assert trial.values[1] == trial.user_attrs["n_params"]


def test_trials_leave_no_trained_graph_behind(data):
    # TensorFlow's gradient registry used to keep every trained step's graph for the life of
    # the process: ~6 MB per trial on MNIST (bench/memory.py).
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    def graphs() -> int:
        gc.collect()
        return sum(isinstance(o, FuncGraph) for o in gc.get_objects())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    objective = make_objective(tiny_spec(max_epochs=1), data.search)
    study.optimize(objective, n_trials=1)
    after_one = graphs()
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert graphs() <= after_one


def test_seconds_per_epoch_leaves_out_each_models_first_epoch_which_traces_its_graph():
    # Two folds' models: the first epoch of each also traced the graph.
    attrs = hpo.objective._timing([[5.0, 1.0, 1.2], [4.0, 1.1]], fit_seconds=12.3)
    assert attrs["epochs"] == 5 and attrs["seconds_per_epoch"] == pytest.approx(1.1)
    assert attrs["fit_seconds"] == pytest.approx(12.3)
    one = hpo.objective._timing([[2.5]], fit_seconds=2.5)  # one epoch: all there is
    assert one["seconds_per_epoch"] == pytest.approx(2.5)


@pytest.mark.parametrize("schedule, epochs", [("inverse_time", 2), ("cosine", 4)])
def test_patience_stops_a_flat_trial_but_not_one_a_cosine_runs_down_to_its_end(
        data, schedule, epochs):
    # A rate of 1e-9 leaves the weights, so validation accuracy never improves after epoch 1.
    spec = tiny_spec(max_epochs=4, optimizer="adam", learning_rate=1e-9, schedule=schedule,
                     decay=1e-3)
    spec = dataclasses.replace(spec, budget=dataclasses.replace(spec.budget, patience=1))
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(spec, data.search), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    assert trial.user_attrs["epochs"] == epochs
    assert trial.user_attrs["best_epoch"] == 1


def test_epochs_tied_at_the_best_score_are_told_apart_by_the_validation_loss():
    # The textbook CNN's plateau: 0.9920 at epochs 2, 4 and 5 (from 0), the loss still falling.
    history = {"val_accuracy": [0.9918, 0.9914, 0.9920, 0.9917, 0.9920, 0.9920, 0.9918],
               "val_loss": [0.0293, 0.0291, 0.0278, 0.0283, 0.0268, 0.0267, 0.0268]}
    assert best_epoch(history, "val_accuracy", maximize=True) == 5
    # A clear best is the best, whatever the loss; a minimized metric is minimized.
    assert best_epoch({**history, "val_accuracy": [0.5, 0.9, 0.8, 0.7, 0.6, 0.6, 0.6]},
                      "val_accuracy", maximize=True) == 1
    assert best_epoch(history, "val_loss", maximize=False) == 5
    # Without a (finite) loss to tell them apart, the earliest of the tied epochs.
    assert best_epoch({"val_auc": [0.9, 0.95, 0.95]}, "val_auc", maximize=True) == 1
    assert best_epoch({"val_auc": [0.9, 0.95, 0.95], "val_loss": [0.3, None, math.nan]},
                      "val_auc", maximize=True) == 1
    assert best_epoch({"val_auc": [None, math.nan]}, "val_auc", maximize=True) is None


class _Halving(keras.optimizers.schedules.LearningRateSchedule):
    """A user's own schedule, without get_config."""

    def __call__(self, step):
        return 1e-3 * 0.5 ** (keras.ops.cast(step, "float32") // 100)


@pytest.mark.parametrize("rate, cosine", [
    (keras.optimizers.schedules.CosineDecay(1e-3, 100), True),
    (keras.optimizers.schedules.InverseTimeDecay(1e-3, 1, 1e-3), False),
    (1e-3, False),
    (_Halving(), False),
])
def test_a_model_follows_a_cosine_only_when_its_optimizer_s_rate_is_keras_s_cosine(rate, cosine):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    assert not follows_a_cosine(model)  # not compiled: no optimizer yet
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    assert follows_a_cosine(model) is cosine
