"""What a study gets without asking: the default search, the textbook start, the time guard,
and warm starts from an earlier study."""

from __future__ import annotations

import datetime
import time

import numpy as np
import optuna
import pytest

from hpo.errors import HpoError
from hpo.samplers import (
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    TimeBudgetPruner,
    WarmStartSampler,
    make_pruner,
)
from hpo.space import STARTS, Choice, Fixed, Range, distribution, project
from hpo.spec import parse_spec

WIDE = {"optimizer": ["adam", "sgd"], "learning_rate": {"low": 1e-4, "high": 0.3, "log": True},
        "batch_size": [64, 128, 256], "n_layers": {"low": 1, "high": 4},
        "units": {"low": 32, "high": 256, "log": True}, "dropout": {"low": 0.0, "high": 0.5}}


def test_a_study_that_names_no_strategy_gets_the_default_search_and_early_stopping():
    spec = parse_spec({"family": "mlp", "space": WIDE}, name="wide")
    assert spec.sampler.name == DEFAULT_SAMPLER["name"] == "tpe"
    assert dict(spec.sampler.options) == {k: v for k, v in DEFAULT_SAMPLER.items() if k != "name"}
    assert spec.pruner.name == "successive_halving"
    assert dict(spec.pruner.options) == {"min_resource": 1, "reduction_factor": 3}
    assert spec.budget.patience == 3
    # Naming a sampler or a pruner gets Optuna's own options for it, nothing of hpo's.
    named = parse_spec({"family": "mlp", "space": WIDE, "sampler": {"name": "tpe"},
                        "pruner": {"name": "median"}, "budget": {"patience": 0}}, name="named")
    assert (named.sampler.options, named.pruner.name, named.budget.patience) == ({}, "median", 0)
    assert DEFAULT_PRUNER["name"] == spec.pruner.name


def test_the_family_textbook_network_is_tried_first_as_far_as_the_space_allows():
    spec = parse_spec({"family": "mlp", "space": WIDE}, name="wide")
    assert spec.textbook and len(spec.enqueue) == 2
    start, wide = map(dict, spec.enqueue)
    # 512 units lie above this space's 256: moved to the bound; the pinned and left-out
    # dimensions are not the start's to set.
    assert start == {"optimizer": "adam", "learning_rate": 2e-3, "batch_size": 256,
                     "n_layers": 2, "units_1": 256, "units_2": 256, "dropout": 0.2}
    assert STARTS["mlp"][0]["units_1"] == 512 and STARTS["mlp"][1]["units_1"] == 1024
    assert wide == {**start, "dropout": 0.3}  # the wide start, as far as this space allows
    # Without dropout in the space the two starts become one, tried once.
    narrow = parse_spec({"family": "mlp", "space": {k: v for k, v in WIDE.items()
                                                    if k != "dropout"}}, name="narrow")
    assert [dict(e) for e in narrow.enqueue] == [{k: v for k, v in start.items()
                                                  if k != "dropout"}]
    off = parse_spec({"family": "mlp", "space": WIDE, "enqueue": []}, name="off")
    assert off.enqueue == () and not off.textbook
    grid = parse_spec({"family": "mlp", "sampler": {"name": "grid"},
                       "space": {"learning_rate": [0.01, 0.1]}}, name="grid")
    assert grid.enqueue == (), "a grid is tried as it is"
    own = parse_spec({"family": "mlp", "space": WIDE, "enqueue": [{"optimizer": "sgd"}]},
                     name="own")
    assert [dict(e) for e in own.enqueue] == [{"optimizer": "sgd"}] and not own.textbook


def test_project_keeps_what_the_space_allows_and_clip_moves_numbers_inside():
    space = {"units": Range(32, 256, log=True, integer=True), "optimizer": Choice(("adam",)),
             "batch_size": Fixed(64)}
    params = {"units_1": 512, "units_2": 64, "optimizer": "sgd", "batch_size": 64, "other": 1}
    assert project(params, space) == {"units_2": 64}
    assert project(params, space, clip=True) == {"units_1": 256, "units_2": 64}
    assert distribution(space["units"]) == optuna.distributions.IntDistribution(32, 256, log=True)
    assert distribution(Fixed(64)) == optuna.distributions.CategoricalDistribution([64])


def test_warm_start_must_name_another_study():
    with pytest.raises(HpoError, match="warm_start: got 'same'.*earlier study in the same storage"):
        parse_spec({"family": "mlp", "warm_start": "same"}, name="same")


# -- the time guard -----------------------------------------------------------------------------

def _study_with_trial(values_by_step, others=(), started_seconds_ago=100.0):
    study = optuna.create_study(direction="maximize")
    for other in others:
        study.add_trial(optuna.trial.create_trial(
            value=max(other.values()), intermediate_values=other,
            params={}, distributions={}))
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.RUNNING, intermediate_values=values_by_step,
        params={}, distributions={})
    trial.number = len(others)
    trial.datetime_start = datetime.datetime.now() - datetime.timedelta(
        seconds=started_seconds_ago)
    return study, trial


def test_the_time_guard_stops_a_slow_trial_that_does_not_lead():
    # 100 s for one epoch, 9 to go: 900 s projected with 600 s left.
    study, trial = _study_with_trial({0: 0.90}, others=[{0: 0.95, 1: 0.96}])
    guard = TimeBudgetPruner(optuna.pruners.NopPruner(), time.monotonic() + 600, max_steps=10)
    assert guard.prune(study, trial)
    assert "stopped after epoch 1 to save time" in guard.reasons[trial.number]
    assert "9 more epochs" in guard.reasons[trial.number]
    folds = TimeBudgetPruner(optuna.pruners.NopPruner(), time.monotonic() + 600, max_steps=10,
                             unit="fold")
    assert folds.prune(study, trial)
    assert "stopped after fold 1 to save time: 9 more folds" in folds.reasons[trial.number]


def test_the_time_guard_keeps_a_slow_trial_that_leads_and_a_cheap_one():
    leader, trial = _study_with_trial({0: 0.97}, others=[{0: 0.95}])
    guard = TimeBudgetPruner(optuna.pruners.NopPruner(), time.monotonic() + 600, max_steps=10)
    assert not guard.prune(leader, trial)
    cheap, trial = _study_with_trial({0: 0.90}, others=[{0: 0.95}], started_seconds_ago=5)
    assert not guard.prune(cheap, trial)  # 45 s projected of 600 s left
    assert not guard.reasons


def test_past_the_deadline_only_a_trial_beating_the_best_finished_one_goes_on():
    # It leads the others at epoch 1, but 9 more epochs overrun the 60 s left and its 0.97 is
    # behind the finished trial's 0.98.
    study, trial = _study_with_trial({0: 0.97}, others=[{0: 0.95, 1: 0.98}])
    guard = TimeBudgetPruner(optuna.pruners.NopPruner(), time.monotonic() + 60, max_steps=10)
    assert guard.prune(study, trial)
    study, trial = _study_with_trial({0: 0.99}, others=[{0: 0.95, 1: 0.98}])
    assert not guard.prune(study, trial)


def test_the_time_guard_defers_to_the_study_pruner():
    class Always(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    study, trial = _study_with_trial({0: 0.99}, started_seconds_ago=1)
    guard = TimeBudgetPruner(Always(), time.monotonic() + 600, max_steps=10)
    assert guard.prune(study, trial) and not guard.reasons


def test_a_queued_start_is_not_pruned_but_the_sampled_trials_are_measured_against_it():
    study = optuna.create_study(direction="maximize", pruner=make_pruner(
        "successive_halving", {k: v for k, v in DEFAULT_PRUNER.items() if k != "name"}, 12))
    leader = study.ask()
    leader.report(0.95, 1)  # epoch 2, the first rung
    assert not leader.should_prune()
    study.tell(leader, 0.95)
    study.enqueue_trial({})  # a start, as hpo queues the textbook ones
    start = study.ask()
    start.report(0.90, 1)  # behind the leader at the first rung: successive halving would stop it
    assert not start.should_prune()
    sampled = study.ask()
    sampled.report(0.93, 1)  # ahead of the start, still behind the leader
    assert sampled.should_prune()
    # The start's score counts at the rung: a sampled trial behind both of them is stopped too.
    study.tell(sampled, state=optuna.trial.TrialState.PRUNED)
    study.tell(start, 0.90)
    rung = [t.system_attrs.get("completed_rung_0") for t in study.trials]
    assert rung == [0.95, 0.90, 0.93]


# -- warm starts --------------------------------------------------------------------------------

def test_an_earlier_studys_trials_steer_the_sampler_without_joining_the_study():
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    # The earlier study found the good region near 0.9.
    warm = [optuna.trial.create_trial(params={"x": x}, distributions={"x": dist},
                                      value=-abs(x - 0.9))
            for x in np.linspace(0.0, 1.0, 21)]

    def draws(sampler):
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: -abs(t.suggest_float("x", 0.0, 1.0) - 0.9), n_trials=8)
        return study, [t.params["x"] for t in study.trials]

    tpe = dict(n_startup_trials=5, seed=3)
    cold_study, cold = draws(optuna.samplers.TPESampler(**tpe))
    warm_study, warmed = draws(WarmStartSampler(optuna.samplers.TPESampler(**tpe), warm))
    # With 21 trials to learn from, TPE models from the first trial on, near 0.9; cold, its
    # first 5 are random.
    assert np.median([abs(x - 0.9) for x in warmed]) < 0.1
    assert np.median([abs(x - 0.9) for x in warmed]) < np.median([abs(x - 0.9) for x in cold])
    assert len(warm_study.trials) == len(cold_study.trials) == 8


def _builder(trial):
    import keras

    import hpo

    units = hpo.param(trial, "width", 8)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    return model


def _arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def test_warm_start_tries_the_earlier_best_first_and_keeps_the_budget_its_own(tmp_path):
    import hpo

    x, y = _arrays()
    common = dict(storage=f"sqlite:///{tmp_path / 'hpo.db'}", max_epochs=2, final=False,
                  verbose=False, sampler="random", out_dir=tmp_path / "runs")
    narrow = hpo.tune(_builder, x, y, study_name="narrow", trials=3, seed=1,
                      space={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
                             "width": [4, 8, 16]}, **common)
    wide = hpo.tune(_builder, x, y, study_name="wide", trials=2, seed=2, warm_start="narrow",
                    space={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
                           "width": [4, 8, 16, 32]}, **common)
    first = wide.study.trials[0]
    assert first.params == narrow.best_params
    assert len(wide.study.trials) == 2, "the earlier study's trials are not this one's"
    assert wide.study.user_attrs["warm_start"] == {"study": "narrow", "trials": 3}


def test_warm_start_from_a_study_the_storage_lacks_stops_before_anything_is_stored(tmp_path):
    import hpo

    x, y = _arrays()
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    with pytest.raises(HpoError, match="warm_start = \"nope\".*holds no study 'nope'"):
        hpo.tune(_builder, x, y, study_name="cold", trials=1, max_epochs=1, storage=url,
                 warm_start="nope", final=False, verbose=False)
    assert "cold" not in optuna.get_all_study_names(url)


def test_every_queued_configuration_runs_when_they_fill_the_budget(tmp_path):
    import hpo

    x, y = _arrays()
    queued = [{"width": w} for w in (4, 8, 16)]
    result = hpo.tune(_builder, x, y, study_name="queued", trials=3, max_epochs=1,
                      storage=f"sqlite:///{tmp_path / 'hpo.db'}", space={"width": [4, 8, 16]},
                      enqueue=queued, final=False, verbose=False, out_dir=tmp_path / "runs")
    states = [t.state.name for t in result.study.trials]
    assert states == ["COMPLETE"] * 3
    assert [t.params["width"] for t in result.study.trials] == [4, 8, 16]
