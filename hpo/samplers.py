"""Samplers and pruners by name: the closed sets a study file or the CLI may choose from."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Mapping
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
    name: str, options: Mapping[str, Any], max_steps: int
) -> optuna.pruners.BasePruner:
    kwargs = {**_PRUNER_DEFAULTS.get(name, {}), **options}
    if name in ("hyperband",) and "max_resource" not in kwargs:
        # Let Hyperband plan its brackets over the steps a trial really reports (epochs, or
        # folds).
        kwargs["max_resource"] = max_steps
    return PRUNERS[name](**kwargs)


def _check_options(factory: Callable[..., Any], options: Mapping[str, Any], where: str) -> None:
    params = inspect.signature(factory).parameters
    valid = [p for p in params if p not in _RESERVED and p != "self"]
    for key in options:
        if key not in valid:
            raise SpecError(
                f"{where}: unknown option '{key}'; valid: {', '.join(valid) or '(none)'}"
            )
