"""Samplers and pruners by name: the closed sets a study file or the CLI may choose from."""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from hpo.errors import SpecError

# name -> (factory, optional package it needs, the extra that installs it)
SAMPLERS: dict[str, tuple[Callable[..., optuna.samplers.BaseSampler], str | None]] = {
    "tpe": (optuna.samplers.TPESampler, None),
    "random": (optuna.samplers.RandomSampler, None),
    "grid": (optuna.samplers.GridSampler, None),
    "qmc": (optuna.samplers.QMCSampler, "scipy"),
    "cmaes": (optuna.samplers.CmaEsSampler, "cmaes"),
    "nsga2": (optuna.samplers.NSGAIISampler, None),
}
PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "none": optuna.pruners.NopPruner,
}
# What a study file that leaves out [sampler] or [pruner] gets (README, "The default search",
# has the figures that chose them). TPE models the dimensions jointly (multivariate, grouped
# by which ones a trial has: units_3 only with three layers), starts modelling after 5 trials,
# and with constant_liar counts the trials other workers are running so that they do not all
# draw the same point. Successive halving stops a trial after epochs 2, 4 and 10 unless it is
# in the best third of the trials that reached that epoch: one rung ladder for every trial, so
# that TPE learns from all of them (Optuna's Hyperband shows TPE only the trials of one bracket).
# Both are stateless beyond the storage: a resumed study and every worker see the same state.
DEFAULT_SAMPLER: dict[str, Any] = {"name": "tpe", "n_startup_trials": 5, "multivariate": True,
                                   "group": True, "constant_liar": True}
DEFAULT_PRUNER: dict[str, Any] = {"name": "successive_halving", "min_resource": 1,
                                  "reduction_factor": 3}
# Filled in by hpo, not by the study file.
_RESERVED = {"seed", "search_space"}


def check_sampler(name: str, options: Mapping[str, Any], where: str) -> None:
    """Raise SpecError unless ``name`` is a known sampler whose options its constructor takes."""
    if name not in SAMPLERS:
        raise SpecError(f"{where}: unknown sampler '{name}'; valid: {', '.join(SAMPLERS)}")
    factory, package = SAMPLERS[name]
    if package and importlib.util.find_spec(package) is None:
        raise SpecError(
            f"{where}: the '{name}' sampler needs the '{package}' package, which is not "
            f"installed; install it with: pip install 'hpo[{name}]'"
        )
    _check_options(factory, options, f"{where} (sampler '{name}')")


def check_pruner(name: str, options: Mapping[str, Any], where: str) -> None:
    """Raise SpecError unless ``name`` is a known pruner whose options its constructor takes."""
    if name not in PRUNERS:
        raise SpecError(f"{where}: unknown pruner '{name}'; valid: {', '.join(PRUNERS)}")
    _check_options(PRUNERS[name], options, f"{where} (pruner '{name}')")
    try:
        PRUNERS[name](**options)
    except (TypeError, ValueError) as e:
        raise SpecError(f"{where}: invalid option for pruner '{name}': {e}") from None


def make_sampler(
    name: str, options: Mapping[str, Any], seed: int, grid: Mapping[str, list[Any]] | None = None
) -> optuna.samplers.BaseSampler:
    factory, _ = SAMPLERS[name]
    kwargs = dict(options)
    if name == "grid":
        kwargs["search_space"] = grid
    return factory(seed=seed, **kwargs)


# Options a pruner cannot do without, when the study file does not give them: the percentile
# pruner stops a trial in the worst quarter of the others at the same epoch.
_PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {"percentile": {"percentile": 25.0}}


def make_pruner(
    name: str, options: Mapping[str, Any], max_steps: int, deadline: float | None = None,
    unit: str = "epoch",
) -> optuna.pruners.BasePruner:
    """The named pruner; with a ``deadline`` (a study with a timeout), wrapped so that it also
    stops a trial that would take an outsized share of the time left (``TimeBudgetPruner``).
    ``unit``: what a step is, for its messages (epochs, or folds)."""
    kwargs = {**_PRUNER_DEFAULTS.get(name, {}), **options}
    if name in ("hyperband",) and "max_resource" not in kwargs:
        # Let Hyperband plan its brackets over the steps a trial really reports (epochs, or
        # folds).
        kwargs["max_resource"] = max_steps
    pruner = PRUNERS[name](**kwargs)
    if name == "none":
        return pruner
    pruner = SparedStarts(pruner)
    if deadline is None:
        return pruner
    return TimeBudgetPruner(pruner, deadline, max_steps, unit=unit)


def _check_options(factory: Callable[..., Any], options: Mapping[str, Any], where: str) -> None:
    params = inspect.signature(factory).parameters
    valid = [p for p in params if p not in _RESERVED and p != "self"]
    for key in options:
        if key not in valid:
            raise SpecError(
                f"{where}: unknown option '{key}'; valid: {', '.join(valid) or '(none)'}"
            )


class SparedStarts(optuna.pruners.BasePruner):
    """The study's pruner, except that it does not stop a trial queued first: a known-good
    start (a family's textbook network, a warm start's best, the study file's ``[[enqueue]]``).

    The pruner still sees each start's scores (successive halving records them at its rungs),
    so the sampled trials are measured against the starts; a start itself runs to its end or
    its early stop, since the starts are few and each was queued to be tried. Two starts of
    different cost are otherwise compared at an early rung, where the bigger one trails: with
    a cosine schedule, the wide ``mlp`` start was stopped after epoch 4 behind the textbook one
    that it beats at epoch 12. The time guard (``TimeBudgetPruner``, around this) still stops a
    start that would eat the time left.
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        pruned = self.inner.prune(study, trial)
        return pruned and "fixed_params" not in trial.system_attrs  # Optuna's enqueue mark


class TimeBudgetPruner(optuna.pruners.BasePruner):
    """The study's pruner, plus a stop for a trial that would eat the remaining time.

    With a ``timeout``, after each epoch it projects the trial's remaining cost from its own
    measured seconds per step. A trial whose remaining steps would take more than ``share`` of
    the time left before ``deadline`` (``time.monotonic()``) is stopped unless it is ahead: it
    leads every other trial at this step, and, if it would run past the deadline, it already
    beats the study's best score. Per process, so each worker keeps its own clock.
    """

    def __init__(self, inner: optuna.pruners.BasePruner, deadline: float, max_steps: int,
                 share: float = 0.5, unit: str = "epoch") -> None:
        self.inner = inner
        self.unit = unit
        self.deadline = deadline
        self.max_steps = max_steps
        self.share = share
        self.reasons: dict[int, str] = {}

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if self.inner.prune(study, trial):
            return True
        step = trial.last_step
        if step is None or trial.datetime_start is None:
            return False
        done = step + 1
        spent = (datetime.datetime.now() - trial.datetime_start).total_seconds()
        projected = spent / done * (self.max_steps - done)
        left = max(self.deadline - time.monotonic(), 0.0)
        if projected <= self.share * left or self._ahead(study, trial, step, projected > left):
            return False
        self.reasons[trial.number] = (
            f"stopped after {self.unit} {done} to save time: {self.max_steps - done} more "
            f"{self.unit}s would take about {projected:.0f} s of the {left:.0f} s left, and it "
            f"is not ahead of the other trials")
        return True

    @staticmethod
    def _ahead(study: optuna.Study, trial: optuna.trial.FrozenTrial, step: int,
               overruns: bool) -> bool:
        value = trial.intermediate_values[step]
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        best = max if maximize else min
        at_step = [t.intermediate_values[step] for t in trials if step in t.intermediate_values]
        complete = [t.value for t in trials
                    if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
        if overruns and complete:
            # Past the deadline only a trial already better than the best finished one may go on.
            at_step.append(best(complete))
        if not at_step:
            return True  # nothing to compare with: not behind
        return value >= best(at_step) if maximize else value <= best(at_step)


class WarmStartSampler(optuna.samplers.BaseSampler):
    """The study's sampler, shown an earlier study's trials as well as this one's.

    ``trials``: the earlier study's completed trials, their parameters projected onto this
    study's space (``hpo.search.warm_trials``). They inform the sampler's model only: they are
    not stored in this study, so its budget, best trial, pruning and report see its own trials.
    Optuna's Hyperband does the same in reverse, showing the sampler one bracket's trials.
    """

    def __init__(self, inner: optuna.samplers.BaseSampler,
                 trials: Sequence[optuna.trial.FrozenTrial]) -> None:
        self.inner = inner
        self.trials = list(trials)

    def _view(self, study: optuna.Study) -> Any:
        return _WithTrials(study, self.trials)

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return self.inner.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return self.inner.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                           param_name: str, param_distribution: Any) -> Any:
        return self.inner.sample_independent(self._view(study), trial, param_name,
                                             param_distribution)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class _WithTrials:
    """A read-only view of ``study`` whose trials include ``extra`` (listed first)."""

    def __init__(self, study: optuna.Study, extra: list[optuna.trial.FrozenTrial]) -> None:
        self._study = study
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[optuna.trial.FrozenTrial]:
        own = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in self._extra if states is None or t.state in states] + own

    def get_trials(self, deepcopy: bool = True, states: Any = None
                   ) -> list[optuna.trial.FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.get_trials()
