from __future__ import annotations

import dataclasses

import optuna
import pytest
from conftest import TINY_STUDY

import hpo.objective
from hpo.data import SearchData, load_dataset
from hpo.objective import HISTORY_KEYS, make_objective, rounded
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


def tiny_spec(**space_pins):
    import tomllib

    raw = tomllib.loads(TINY_STUDY)
    raw["space"].update(space_pins)
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
    assert history["val_accuracy"].index(max(history["val_accuracy"])) + 1 == attrs["best_epoch"]
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


def test_a_trial_that_raises_fails_with_its_reason_and_its_attributes(data, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no such layer\nsecond line")

    monkeypatch.setattr(hpo.objective, "build_model", broken)
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(tiny_spec(), data.search), n_trials=1, catch=(ValueError,))
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
    assert trial.user_attrs["epochs"] == 1 and "pruned at epoch 0" in trial.user_attrs[
        "pruned_reason"]
    assert list(trial.intermediate_values) == [0]
    assert_recorded(trial, 1)
    assert trial.user_attrs["history"]["val_accuracy"][0] == pytest.approx(
        trial.intermediate_values[0], rel=1e-4)


def test_the_objective_is_given_no_way_to_the_test_split(data):
    # The objective is built from the search splits alone: they carry no test arrays.
    fields = {f.name for f in dataclasses.fields(SearchData)}
    assert fields == {"x_train", "y_train", "x_val", "y_val", "n_classes"}
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(tiny_spec(), data.search), n_trials=2)
    assert data.test.opened == 0


def test_history_values_are_rounded_and_json_safe():
    assert rounded(0.123456789) == 0.12346 and rounded(2.0e-7 / 3) == 6.6667e-08
    assert rounded(None) is None and rounded(float("nan")) is None and rounded(float("inf")) is None
