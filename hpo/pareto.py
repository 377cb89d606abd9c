"""Which trial a study puts forward: its best, or for a multi-objective study, a Pareto member.

A study with ``objectives = ["accuracy", "n_params"]`` has no single best trial: its Pareto
front holds every trial that no other beats on both validation accuracy and size. Of those we
recommend, on validation alone, the smallest model within ``TOLERANCE`` of the front's best
validation accuracy: half a point of accuracy is rarely worth a model many times the size.

A trial's first value is always the study's metric (validation accuracy unless the study names
another); in a multi-objective study the second is its parameter count. For a metric that is
minimized (a regression's val_loss), "within TOLERANCE" is relative: 0.5% of the best value.
"""

from __future__ import annotations

import optuna

# How the objectives are labelled in the dashboard and in Optuna's plots.
LABELS = {"accuracy": "val_accuracy", "n_params": "n_params"}
TOLERANCE = 0.005  # validation accuracy (half a percentage point) traded for a smaller model
RULE = (f"the smallest model within {100 * TOLERANCE:g} points of the front's best validation "
        f"accuracy")


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def accuracy(trial: optuna.trial.FrozenTrial) -> float | None:
    """The trial's validation accuracy; None unless it completed."""
    return trial.values[0] if trial.values else None


def size(trial: optuna.trial.FrozenTrial) -> int:
    """The parameter count a multi-objective trial was scored on."""
    return int(trial.values[1])


def front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """A multi-objective study's Pareto front, smallest model first."""
    return sorted(study.best_trials, key=lambda t: (size(t), -t.values[0], t.number))


def recommend(members: list[optuna.trial.FrozenTrial], maximize: bool = True
              ) -> optuna.trial.FrozenTrial:
    """Of Pareto ``members``, the smallest within TOLERANCE of their best score."""
    sign = 1.0 if maximize else -1.0
    top = max(sign * t.values[0] for t in members)
    tolerance = TOLERANCE if maximize else TOLERANCE * abs(top)
    # The epsilon keeps "exactly 0.5 points below" inside despite float rounding.
    near = [t for t in members if top - sign * t.values[0] <= tolerance + 1e-9]
    return min(near, key=lambda t: (size(t), -sign * t.values[0], t.number))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The trial the final step retrains and a report or a follow-up study starts from.

    The best trial of a single-objective study, the recommended front member of a
    multi-objective one (``study.best_trial`` raises for those); None before any completed.
    """
    if is_multi_objective(study):
        members = study.best_trials
        maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        return recommend(members, maximize) if members else None
    try:
        return study.best_trial
    except ValueError:
        return None
