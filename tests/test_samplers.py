"""Every sampler the study files name runs a study over hpo's space."""

from __future__ import annotations

import optuna
import pytest

from hpo.samplers import PRUNERS, SAMPLERS, SparedStarts, make_pruner, make_sampler
from hpo.space import Choice, Range, grid_space, suggest

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "optimizer": Choice(("adam", "sgd")),
    "learning_rate": Range(1e-3, 1e-1, log=True, step=None),
    "n_layers": Range(1, 2, integer=True),
    "units": Choice((8, 16)),
}
GRID_SPACE = {**SPACE, "learning_rate": Choice((0.001, 0.01))}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_runs_trials_over_hpo_space(name):
    space = GRID_SPACE if name == "grid" else SPACE
    sampler = make_sampler(name, {}, seed=0,
                           grid=grid_space(space) if name == "grid" else None)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial):
        params = suggest(trial, space)
        return -abs(params["learning_rate"] - 0.01) + params["n_layers"]

    study.optimize(objective, n_trials=6)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 6
    for trial in trials:
        assert 1e-3 <= trial.params["learning_rate"] <= 1e-1
        assert len([k for k in trial.params if k.startswith("units_")]) == trial.params["n_layers"]
    if name == "grid":  # 2 optimizers x 2 rates x 2 depths x 2 x 2 widths: no repeats in 6
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 6


@pytest.mark.parametrize("name", list(PRUNERS))
def test_every_pruner_is_built_for_the_epoch_budget(name):
    pruner = make_pruner(name, {}, max_steps=7)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    if name != "none":  # queued starts are spared by every pruner (hpo.samplers.SparedStarts)
        assert isinstance(pruner, SparedStarts)
        pruner = pruner.inner
    if name == "hyperband":
        assert pruner._max_resource == 7
    # A pruner runs in a study with no options from the study file (`--pruner NAME`).
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in (0.9, 0.8, 0.1):
        trial = study.ask()
        trial.report(value, step=1)
        trial.should_prune()
        study.tell(trial, value)
