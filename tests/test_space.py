from __future__ import annotations

import optuna
import pytest

from hpo.space import (
    Choice,
    Fixed,
    Range,
    grid_space,
    inherit,
    param,
    project,
    resolve,
    sampling,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "optimizer": Choice(("sgd", "adam", "rmsprop")),
    "learning_rate": Range(1e-4, 1e-1, log=True),
    "momentum": Range(0.0, 0.9),
    "nesterov": Choice((True, False)),
    "beta_1": Range(0.8, 0.95),
    "n_layers": Range(1, 3, integer=True),
    "units": Range(8, 64, integer=True, log=True),
    "dropout": Fixed(0.25),
}


def fixed(**params):
    base = {"learning_rate": 0.01, "momentum": 0.5, "nesterov": True, "beta_1": 0.9,
            "n_layers": 2, "units_1": 16, "units_2": 8, "dropout": 0.25}
    return optuna.trial.FixedTrial({**base, **params})


def test_sgd_gets_momentum_and_nesterov_but_no_betas():
    params = suggest(fixed(optimizer="sgd"), SPACE)
    assert params["momentum"] == 0.5 and params["nesterov"] is True
    assert "beta_1" not in params


def test_adam_gets_betas_but_no_momentum():
    params = suggest(fixed(optimizer="adam"), SPACE)
    assert params["beta_1"] == 0.9
    assert "momentum" not in params and "nesterov" not in params


def test_rmsprop_gets_neither():
    params = suggest(fixed(optimizer="rmsprop"), SPACE)
    assert not {"momentum", "nesterov", "beta_1"} & set(params)


def test_one_width_per_layer_and_pinned_values_stored():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        params = suggest(trial, SPACE)
        widths = [k for k in params if k.startswith("units_")]
        assert widths == [f"units_{i}" for i in range(1, params["n_layers"] + 1)]
        assert all(8 <= params[w] <= 64 for w in widths)
        assert trial.params["dropout"] == 0.25  # a pin is stored with the trial
        study.tell(trial, 0.0)


def test_resolve_fills_defaults_and_lists_layer_widths():
    full = resolve({"n_layers": 3, "units_1": 64, "units_3": 8})
    assert full["units"] == [64, 128, 8]
    assert full["optimizer"] == "adam" and full["dropout"] == 0.0 and full["learning_rate"] is None


def test_resolve_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown hyperparameter.*lr"):
        resolve({"lr": 0.1})
    with pytest.raises(ValueError, match="units_3"):
        resolve({"n_layers": 2, "units_3": 8})


def test_grid_space_expands_choices_steps_and_layers():
    grid = grid_space({
        "optimizer": Choice(("sgd", "adam")),
        "n_layers": Range(1, 2, integer=True),
        "units": Choice((8, 16)),
        "dropout": Range(0.0, 0.2, step=0.1),
    })
    assert grid == {"optimizer": ["sgd", "adam"], "n_layers": [1, 2], "units_1": [8, 16],
                    "units_2": [8, 16], "dropout": [0.0, 0.1, 0.2]}


def test_whole_architectures_as_choices():
    space = {"layers": Choice(("128", "128-64", "512-256-128"))}
    params = suggest(fixed(layers="512-256-128"), space)
    assert params == {"layers": "512-256-128"}
    full = resolve(params)
    assert full["units"] == [512, 256, 128] and full["n_layers"] == 3


def test_cnn_filters_one_per_block():
    space = {"conv_blocks": Range(1, 3, integer=True), "filters": Range(4, 64, integer=True)}
    params = suggest(optuna.trial.FixedTrial(
        {"conv_blocks": 2, "filters_1": 8, "filters_2": 16, "filters_3": 99}), space)
    assert params == {"conv_blocks": 2, "filters_1": 8, "filters_2": 16}
    assert resolve(params)["filters"] == [8, 16]


def test_a_follow_up_study_inherits_only_what_it_does_not_search():
    best = {"optimizer": "adam", "beta_1": 0.95, "learning_rate": 0.003, "n_layers": 2,
            "units_1": 64, "units_2": 32, "dropout": 0.5}
    assert inherit(best, {"dropout": Choice((0.0, 0.25))}) == {
        k: v for k, v in best.items() if k != "dropout"}
    # Searching the depth drops every layer's width; searching the optimizer drops Adam's betas.
    kept = inherit(best, {"n_layers": Range(1, 3, integer=True), "optimizer": Choice(("sgd",))})
    assert kept == {"learning_rate": 0.003, "dropout": 0.5}


def test_inherited_parameters_are_stored_with_the_trial():
    study = optuna.create_study()
    trial = study.ask()
    params = suggest(trial, {"dropout": Choice((0.1, 0.2))}, {"learning_rate": 0.003})
    assert params["learning_rate"] == 0.003 and trial.params["learning_rate"] == 0.003


def test_decay_is_sampled_for_inverse_time_decay_only():
    space = {"schedule": Choice(("inverse_time", "cosine")), "decay": Range(1e-6, 1e-2, log=True)}
    trial = optuna.trial.FixedTrial({"schedule": "inverse_time", "decay": 1e-3})
    assert suggest(trial, space) == {"schedule": "inverse_time", "decay": 1e-3}
    # Under a cosine, decay would change nothing: it is neither sampled nor stored.
    trial = optuna.trial.FixedTrial({"schedule": "cosine", "decay": 1e-3})
    assert suggest(trial, space) == {"schedule": "cosine"}
    assert set(trial.params) == {"schedule"}
    with sampling(space):
        assert param(trial, "decay") == 0.0


def test_a_start_projected_onto_a_cosine_space_keeps_no_decay():
    start = {"schedule": "cosine", "decay": 2e-3, "learning_rate": 2e-3}
    lr = Range(1e-4, 1e-2, log=True)
    decay = Range(1e-7, 1e-2, log=True)
    assert project(start, {"schedule": Choice(("cosine", "inverse_time")), "decay": decay,
                           "learning_rate": lr}) == {"schedule": "cosine", "learning_rate": 2e-3}
    assert project(start, {"schedule": Fixed("cosine"), "decay": decay}) == {}
    # A space without the schedule keeps hpo's default, inverse-time decay: decay counts.
    assert project(start, {"decay": decay}) == {"decay": 2e-3}


def test_an_inherited_cosine_keeps_decay_unsampled():
    trial = optuna.trial.FixedTrial({"decay": 1e-3, "schedule": "cosine"})
    params = suggest(trial, {"decay": Range(1e-6, 1e-2, log=True)}, {"schedule": "cosine"})
    assert params == {"schedule": "cosine"}
