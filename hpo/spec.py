"""StudySpec: a study definition loaded from ``studies/NAME.toml`` and validated.

A spec is frozen and valid by construction: every value is checked when the file is loaded
(and again when the CLI overrides one), so a typo stops the run before any training starts.
"""

from __future__ import annotations

import copyreg
import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hpo.errors import SpecError
from hpo.samplers import DEFAULT_PRUNER, DEFAULT_SAMPLER, SAMPLERS, check_pruner, check_sampler
from hpo.space import (
    DIMENSIONS,
    STARTS,
    Choice,
    Dimension,
    Domain,
    Fixed,
    Range,
    builder_dimension,
    project,
)
from hpo.tasks import CLASSIFICATION, DEFAULT_METRIC, REGRESSION, TASKS


def read_only(mapping: Mapping[str, Any]) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


def reduce_read_only(view: MappingProxyType) -> tuple[Any, tuple[dict[str, Any]]]:
    return read_only, (dict(view),)


# A spec crosses into worker processes (spawn pickles it); its tables are read-only views,
# which pickle cannot rebuild by itself.
copyreg.pickle(MappingProxyType, reduce_read_only)

DATASETS = ("mnist", "digits", "npz", "csv", "images", "arrays", "loader", "pipeline")
# dataset = "images": where decoded images are kept between epochs.
CACHES = ("none", "memory", "disk")
# The built-in model builders (hpo.models.mlp and hpo.models.cnn); any other model is a
# builder named "module:function".
FAMILIES = ("mlp", "cnn")
SCALES = ("auto", "none", "unit", "standardize")
COLOR_MODES = ("rgb", "grayscale", "rgba")
# Validation metrics whose better direction hpo knows; any other metric the model logs can be
# the objective when the study gives its direction.
METRICS = {
    "val_accuracy": "maximize", "val_loss": "minimize", "val_mae": "minimize",
    "val_mse": "minimize", "val_rmse": "minimize", "val_auc": "maximize",
    "val_binary_accuracy": "maximize", "val_sparse_categorical_accuracy": "maximize",
    "val_precision": "maximize", "val_recall": "maximize",
}
DIRECTIONS = ("maximize", "minimize")
# What the final step retrains and tests: the best trial, or every completed one too (a
# notebook-style experiment that reports each setting's test score; the best is still the one
# chosen on validation).
FINALS = ("best", "each")
# What a trial is scored on. The study's metric ([objective] metric, validation accuracy by
# default) comes first: a trial's first value is always it (its ``values[0]``). "accuracy" is
# the name older study files use for it.
OBJECTIVES = {"metric": None, "accuracy": None, "n_params": "minimize"}
# Samplers that cannot search a multi-objective study (Optuna's CMA-ES raises on one).
_SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
_TOP_KEYS = {"description", "family", "model", "seed", "data", "budget", "sampler", "pruner",
             "space", "enqueue", "final", "follows", "then", "objectives", "objective",
             "final_seeds", "warm_start"}
_DATA_KEYS = {"dataset", "validation_size", "path", "cv_folds", "task", "target", "test_path",
              "test_size", "scale", "image_size", "color_mode", "loader", "cache",
              "categorical", "numeric", "ignore"}
_OBJECTIVE_KEYS = {"metric", "direction"}
_BUDGET_KEYS = {"trials", "max_epochs", "timeout", "patience"}
_RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "mnist"
    # An int counts examples, a float in (0, 1) is a fraction; 1/6 of MNIST is 50k / 10k.
    validation_size: int | float = 1 / 6
    path: str | None = None  # the .npz or .csv file, or the images folder
    # k >= 2: each trial is scored by k-fold cross-validation over train + validation (the
    # pruner's steps are then folds, not epochs); 0: the single validation split above.
    cv_folds: int = 0
    # None: inferred from the labels (integers: classification, floats: regression).
    task: str | None = None
    target: str | None = None  # the CSV column to predict
    # The test split: given (test_path, or an npz's x_test / y_test) or carved once from the
    # data by a seeded split of this size (stratified for classification).
    test_path: str | None = None
    test_size: int | float = 0.2
    # "auto": images to [0, 1] ("unit"), tables standardized; statistics of training data only.
    scale: str = "auto"
    image_size: tuple[int, int] = (64, 64)  # dataset = "images": every image resized to this
    color_mode: str = "rgb"
    # dataset = "loader": "module:function" returning (train, validation, test) pipelines.
    loader: str | None = None
    # dataset = "images": decoded images kept between epochs in memory, on disk, or decoded
    # again each epoch ("none": memory does not grow with the number of images).
    cache: str = "none"
    # dataset = "csv": column kinds, overriding what is inferred (text: categorical).
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    base_dir: str | None = None  # where relative paths start: the study file's folder


@dataclass(frozen=True)
class Budget:
    trials: int = 20
    max_epochs: int = 10
    timeout: float | None = None  # seconds for this run's search; None: no limit
    # Early stopping inside a trial: it ends after this many epochs without a better score of
    # the study's metric; 0: off (every trial runs max_epochs, as the notebooks did).
    patience: int = 3


@dataclass(frozen=True)
class Component:
    """A sampler or pruner: its name and the options passed to its Optuna constructor."""

    name: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    # The model builder: "mlp", "cnn", "module:function", or (from Python) the function itself.
    model: str | Callable[..., Any]
    seed: int
    data: DataSpec
    budget: Budget
    sampler: Component
    pruner: Component
    space: Mapping[str, Domain]
    source: str  # the file it came from, for messages
    # Configurations tried first, before the sampler's own (partial: the rest is sampled).
    enqueue: tuple[Mapping[str, Any], ...] = ()
    # True when ``enqueue`` is the family's textbook start(s) (the file names none).
    textbook: bool = False
    final: str = "best"
    # The final step retrains the chosen trial this many times (its own seed first), for the
    # spread of its test score over seeds.
    final_seeds: int = 3
    # The study whose best trial pins every dimension this one does not search ("then over
    # dropout"); and the study to run right after this one, in the same command.
    follows: str | None = None
    then: str | None = None
    # An earlier study in the same storage to start from: its best configurations are tried
    # first and its trials inform the sampler where the spaces overlap.
    warm_start: str | None = None
    # The followed study's best parameters that this one keeps fixed (set when a run starts).
    inherited: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Keys of OBJECTIVES, "accuracy" first; two of them make a multi-objective study.
    objectives: tuple[str, ...] = ("metric",)
    # [objective]: the validation metric trials are scored on, and which way is better. None
    # until the task is known (``for_task``): val_accuracy / val_loss by default.
    metric: str | None = None
    direction: str | None = None

    @property
    def family(self) -> str:
        """The model as a name: "mlp", "cnn", or the builder's "module:function"."""
        return builder_name(self.model)

    @property
    def builtin(self) -> bool:
        return isinstance(self.model, str) and self.model in FAMILIES

    @property
    def directions(self) -> list[str]:
        """One direction per objective. Until ``for_task`` resolves the metric, an unnamed one
        is taken for a classifier's val_accuracy."""
        first = self.direction or METRICS[self.metric or DEFAULT_METRIC[CLASSIFICATION]]
        return [first if name in ("metric", "accuracy") else OBJECTIVES[name]
                for name in self.objectives]

    def for_task(self, task: str) -> StudySpec:
        """A copy with the metric and direction resolved for ``task``; SpecError if the metric
        does not fit the task."""
        metric = self.metric or DEFAULT_METRIC[task]
        scores_classes = any(k in metric for k in ("accuracy", "auc", "precision", "recall"))
        if task == REGRESSION and scores_classes:
            raise SpecError(f"{self.source} [objective] metric: {metric!r} scores "
                            f"classification, but this study's task is {task}; use val_loss, "
                            f"val_mae or val_rmse (or set [data] task)")
        direction = self.direction or METRICS[metric]
        return dataclasses.replace(self, metric=metric, direction=direction)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def override(self, **changes: Any) -> StudySpec:
        """A copy with CLI overrides applied and validated; None values are left alone.

        Keys: trials, max_epochs, timeout, seed, dataset, sampler, pruner.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        budget = dataclasses.replace(
            self.budget,
            **{k: changes[k] for k in ("trials", "max_epochs", "timeout") if k in changes},
        )
        _check_budget(budget, "command line")
        spec = self
        if "dataset" in changes:
            # The split sizes and path belong to the file's data set; the way trials are
            # scored does not, so cross-validation stays on.
            raw_data = {"dataset": changes["dataset"], "cv_folds": spec.data.cv_folds}
            spec = dataclasses.replace(spec, data=_parse_data(raw_data, "--dataset"))
        if "sampler" in changes:
            check_sampler(changes["sampler"], {}, "--sampler")
            spec = dataclasses.replace(spec, sampler=Component(changes["sampler"]))
        if "pruner" in changes:
            check_pruner(changes["pruner"], {}, "--pruner")
            spec = dataclasses.replace(spec, pruner=Component(changes["pruner"]))
        _check_objectives_fit(spec, "--sampler" if "sampler" in changes else None,
                              "--pruner" if "pruner" in changes else None)
        if "seed" in changes:
            spec = dataclasses.replace(spec, seed=changes["seed"])
        spec = dataclasses.replace(spec, budget=budget)
        _check_grid(spec)
        return spec


def studies_dirs() -> list[Path]:
    """Where study names are looked up: $HPO_STUDIES_DIR, ./studies, then the ones shipped in
    the package (hpo/studies; a clone's studies/ is a link to them)."""
    dirs = []
    if os.environ.get("HPO_STUDIES_DIR"):
        dirs.append(Path(os.environ["HPO_STUDIES_DIR"]))
    dirs.append(Path.cwd() / "studies")
    dirs.append(Path(__file__).resolve().parent / "studies")
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_studies() -> dict[str, Path]:
    """Study name -> file, the first directory in ``studies_dirs()`` winning."""
    found: dict[str, Path] = {}
    for d in studies_dirs():
        for path in sorted(d.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def find_study(name: str) -> Path:
    """The file of study ``name`` (or ``name`` itself when it is a path to a .toml file)."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise SpecError(f"study file {name} does not exist; give a path to a .toml file")
        return path
    studies = available_studies()
    if name not in studies:
        known = ", ".join(studies) or "(none found)"
        raise SpecError(
            f"unknown study '{name}'; known studies: {known} "
            f"(or pass a path to a .toml file; `--list` shows them)"
        )
    return studies[name]


def load_spec(name: str) -> StudySpec:
    """Load and validate a study by name (see ``available_studies``) or by .toml path."""
    path = find_study(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path} is not valid TOML: {e}; fix the file's syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read study file {path}: {e}") from None
    return parse_spec(raw, name=path.stem, source=str(path))


def parse_spec(raw: Mapping[str, Any], name: str, source: str = "<dict>") -> StudySpec:
    """Build a validated StudySpec from the parsed TOML of a study file (or a dict with the
    same tables; ``model`` may then be a builder function)."""
    _reject_unknown(raw, _TOP_KEYS, source)
    model = _parse_model(raw, source)
    family = model if isinstance(model, str) and model in FAMILIES else None
    seed = raw.get("seed", 0)
    if not _is_int(seed):
        raise SpecError(f"{source}: seed: got {seed!r}; expected an integer")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{source}: description: expected a string")
    base_dir = str(Path(source).resolve().parent) if source.endswith(".toml") else None
    data = _parse_data({**({"base_dir": base_dir} if base_dir else {}),
                        **_table(raw, "data", source)}, f"{source} [data]")
    metric, direction = _parse_objective(_table(raw, "objective", source),
                                         f"{source} [objective]")
    budget_raw = _table(raw, "budget", source)
    _reject_unknown(budget_raw, _BUDGET_KEYS, f"{source} [budget]")
    budget = Budget(**budget_raw)
    _check_budget(budget, f"{source} [budget]")
    objectives = _parse_objectives(raw.get("objectives", ["metric"]), source)
    sampler, pruner = _parse_search(raw, objectives, source)
    space = _parse_space(_table(raw, "space", source), family, source)
    enqueued, links = _parse_starts(raw, space, family, sampler, source)
    spec = StudySpec(
        name=name, description=description, model=model, seed=seed, data=data,
        budget=budget, sampler=sampler, pruner=pruner, space=MappingProxyType(space),
        source=source, enqueue=enqueued, final=_parse_final(raw, source),
        final_seeds=_parse_final_seeds(raw, source), objectives=objectives, metric=metric,
        direction=direction, **links, **_parse_links(raw, name, source),
    )
    _check_objectives_fit(spec, f"{source} [sampler]", f"{source} [pruner]")
    _check_grid(spec)
    return spec


def _parse_search(raw: Mapping[str, Any], objectives: tuple[str, ...], source: str
                  ) -> tuple[Component, Component]:
    """[sampler] and [pruner]. A study file without them gets hpo's measured defaults (see
    hpo.samplers.DEFAULT_SAMPLER); one that names a sampler gets Optuna's own options for it."""
    sampler = _parse_component(_table(raw, "sampler", source) or DEFAULT_SAMPLER, "tpe",
                               f"{source} [sampler]")
    check_sampler(sampler.name, sampler.options, f"{source} [sampler]")
    # Optuna cannot prune a multi-objective trial, so such a study prunes nothing by default.
    pruner = _parse_component(
        _table(raw, "pruner", source) or ({"name": "none"} if len(objectives) > 1
                                          else DEFAULT_PRUNER), "median", f"{source} [pruner]")
    check_pruner(pruner.name, pruner.options, f"{source} [pruner]")
    return sampler, pruner


def _parse_space(space_raw: Mapping[str, Any], family: str | None, source: str
                 ) -> dict[str, Domain]:
    # A builder of the user's may suggest names of its own; the built-in ones know only hpo's.
    space = {key: parse_domain(key, value, f"{source} [space]", builder=family is None)
             for key, value in space_raw.items()}
    both = sorted({"n_layers", "units"} & set(space)) if "layers" in space else []
    if both:
        raise SpecError(f"{source} [space]: 'layers' sets whole architectures, so it cannot "
                        f"go with {' or '.join(both)}; keep one way of describing the layers")
    for key in space:
        families = DIMENSIONS[key].families if key in DIMENSIONS else None
        if families is not None and family is not None and family not in families:
            raise SpecError(f"{source} [space] {key}: only the {', '.join(sorted(families))} "
                            f"family has it, this study is family = \"{family}\"; remove it "
                            f"or change the family")
    return space


def _parse_starts(raw: Mapping[str, Any], space: Mapping[str, Domain], family: str | None,
                  sampler: Component, source: str
                  ) -> tuple[tuple[Mapping[str, Any], ...], dict[str, Any]]:
    """The configurations tried first: [[enqueue]], else the family's textbook network."""
    enqueue = raw.get("enqueue", [])
    if not isinstance(enqueue, list) or not all(isinstance(e, dict) for e in enqueue):
        raise SpecError(f"{source}: enqueue: expected [[enqueue]] tables, one per "
                        f"configuration, e.g. [[enqueue]] optimizer = \"adam\"")
    enqueued = tuple(MappingProxyType(_parse_enqueued(e, space, f"{source} [[enqueue]] #{i}",
                                                      builder=family is None))
                     for i, e in enumerate(enqueue, start=1))
    if "enqueue" in raw or family not in STARTS or sampler.name == "grid":
        return enqueued, {}
    # The family's textbook network first, as far as this study's space allows it (a grid is
    # tried as it is); `enqueue = []` turns it off.
    starts = [project(start, space, clip=True) for start in STARTS[family]]
    # In a narrow space two starts can become one: tried once.
    unique = [s for i, s in enumerate(starts) if s and s not in starts[:i]]
    enqueued = tuple(MappingProxyType(s) for s in unique)
    return enqueued, {"textbook": bool(enqueued)}


def _parse_final(raw: Mapping[str, Any], source: str) -> str:
    final = raw.get("final", "best")
    if final not in FINALS:
        raise SpecError(f"{source}: final: got {final!r}; expected one of {', '.join(FINALS)} "
                        f"(\"each\" retrains and tests every completed trial)")
    return final


def _parse_final_seeds(raw: Mapping[str, Any], source: str) -> int:
    final_seeds = raw.get("final_seeds", 3)
    if not _is_int(final_seeds) or final_seeds < 1:
        raise SpecError(f"{source}: final_seeds: got {final_seeds!r}; expected an integer >= 1 "
                        f"(how many times the final step retrains the best trial)")
    return final_seeds


def _parse_links(raw: Mapping[str, Any], name: str, source: str) -> dict[str, str | None]:
    """``follows``, ``then`` and ``warm_start``: the names of other studies."""
    links = {}
    for key in ("follows", "then", "warm_start"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value or value == name):
            where = ("an earlier study in the same storage" if key == "warm_start"
                     else "another study in studies/")
            raise SpecError(f"{source}: {key}: got {value!r}; expected the name of {where}")
        links[key] = value
    return links


def _parse_objectives(raw: Any, source: str) -> tuple[str, ...]:
    where = f"{source}: objectives"
    valid = ", ".join(f'"{name}"' for name in OBJECTIVES)
    if (not isinstance(raw, list) or not raw or not all(isinstance(o, str) for o in raw)
            or any(o not in OBJECTIVES for o in raw)):
        raise SpecError(f"{where}: got {raw!r}; expected a list of names from {valid}, e.g. "
                        f'objectives = ["metric", "n_params"] (the [objective] metric, then '
                        f"the parameter count, minimized)")
    if raw[0] not in ("metric", "accuracy") or len(raw) != len(set(raw)) or \
            {"metric", "accuracy"} <= set(raw):
        raise SpecError(f"{where}: got {raw!r}; \"metric\" (or its older name \"accuracy\") "
                        f"must come first and each name only once: write objectives = "
                        f'["metric"] or ["metric", "n_params"]')
    return tuple(raw)


def _parse_model(raw: Mapping[str, Any], source: str) -> str | Callable[..., Any]:
    """``model = "module:function"`` (or a built-in: "mlp", "cnn"); ``family`` is its older
    name for the built-ins."""
    if "model" in raw and "family" in raw:
        raise SpecError(f"{source}: give model or family, not both (family = \"mlp\" is the "
                        f"same as model = \"mlp\")")
    if "family" in raw:
        family = raw["family"]
        if family not in FAMILIES:
            raise SpecError(f"{source}: family: unknown model family {family!r}; valid: "
                            f"{', '.join(FAMILIES)} (or model = \"module:function\" for a "
                            f"builder of your own)")
        return family
    model = raw.get("model", "mlp")
    if callable(model):
        return model
    if not isinstance(model, str) or not (model in FAMILIES or _is_reference(model)):
        raise SpecError(f"{source}: model: got {model!r}; expected \"module:function\" naming "
                        f"a function that takes an Optuna trial and returns a Keras model, or "
                        f"one of the built-in {', '.join(FAMILIES)}")
    return model


def _is_reference(text: str) -> bool:
    module, sep, function = text.partition(":")
    return bool(sep) and all(part.isidentifier() for part in module.split(".")) and \
        all(part.isidentifier() for part in function.split("."))


def _parse_objective(raw: Mapping[str, Any], where: str) -> tuple[str | None, str | None]:
    _reject_unknown(raw, _OBJECTIVE_KEYS, where)
    metric, direction = raw.get("metric"), raw.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise SpecError(f"{where} direction: got {direction!r}; expected \"maximize\" or "
                        f"\"minimize\"")
    if metric is None:
        if direction is not None:
            raise SpecError(f"{where}: direction needs a metric; set metric too, e.g. "
                            f"metric = \"val_loss\"")
        return None, None
    known = ", ".join(METRICS)
    if not isinstance(metric, str) or not metric.startswith("val_"):
        hint = f"; did you mean 'val_{metric}'?" if isinstance(metric, str) else ""
        raise SpecError(f"{where} metric: unknown metric {metric!r}: trials are scored on "
                        f"validation, so the name starts with val_, as Keras logs it "
                        f"(known: {known}){hint}")
    if metric not in METRICS and direction is None:
        raise SpecError(f"{where} metric: unknown metric {metric!r}; known: {known}. For a "
                        f"metric your own model logs, also set direction = \"maximize\" or "
                        f"\"minimize\"")
    return metric, direction


def _check_objectives_fit(spec: StudySpec, sampler_where: str | None,
                          pruner_where: str | None) -> None:
    """A multi-objective study needs a sampler that can search it and no pruner.

    An explicit pruner is refused rather than quietly switched off: the file (or flag) would
    claim pruning that never happens.
    """
    if not spec.multi_objective:
        return
    objectives = f"objectives = {list(spec.objectives)}"
    if sampler_where and spec.sampler.name in _SINGLE_OBJECTIVE_SAMPLERS:
        usable = ", ".join(n for n in SAMPLERS if n not in _SINGLE_OBJECTIVE_SAMPLERS)
        raise SpecError(f"{sampler_where}: the '{spec.sampler.name}' sampler cannot search a "
                        f"multi-objective study ({objectives}); use one of {usable} "
                        f"(tpe and nsga2 model the Pareto front)")
    if pruner_where and spec.pruner.name != "none":
        fix = ("drop --pruner or pass --pruner none" if pruner_where.startswith("--")
               else 'set [pruner] name = "none" or leave [pruner] out')
        raise SpecError(f"{pruner_where}: pruner '{spec.pruner.name}': Optuna cannot prune "
                        f"multi-objective trials ({objectives}); {fix}")


def _parse_enqueued(raw: Mapping[str, Any], space: Mapping[str, Domain],
                    where: str, builder: bool = False) -> dict[str, Any]:
    """One [[enqueue]] configuration: parameter names as trials store them, values the study's
    ``[space]`` allows (a value outside it would be a trial of another study). A builder of
    the user's may suggest names of its own (``width_1``): any scalar is taken for those."""
    params = {}
    for key, value in raw.items():
        base, _, index = key.rpartition("_")
        per_layer = index.isdigit() and base in DIMENSIONS and DIMENSIONS[base].per_layer
        dim = DIMENSIONS[base] if per_layer else DIMENSIONS.get(key)
        if dim is None and (key in space or builder):  # a builder's own name
            dim = Dimension("any", None, key)
        if dim is None or (dim.per_layer and not per_layer):
            raise SpecError(f"{where}: unknown parameter '{key}'; valid: "
                            f"{', '.join(n for n, d in DIMENSIONS.items() if not d.per_layer)}"
                            f", units_1, units_2, ..., filters_1, ...")
        value = params[key] = _check_value(dim, value, f"{where} {key}")
        domain = space.get(base if per_layer else key)
        allowed = (
            domain is None
            or (isinstance(domain, Range) and domain.low <= value <= domain.high)
            or (isinstance(domain, Choice) and value in domain.values)
            or (isinstance(domain, Fixed) and value == domain.value)
        )
        if not allowed:
            raise SpecError(f"{where} {key}: {value!r} is outside the study's [space] "
                            f"({domain}); change the value or widen the space")
    return params


def parse_domain(name: str, raw: Any, where: str, builder: bool = False) -> Domain:
    """One ``[space]`` entry: a table {low, high, log, step}, a list of choices, or a pin.

    ``builder``: the study's model is a builder of the user's, which may suggest names hpo does
    not know (whether it does is checked once it is built).
    """
    dim = DIMENSIONS.get(name)
    if dim is None and builder:
        dim = builder_dimension(name, raw)
    if dim is None:
        raise SpecError(f"{where}: unknown hyperparameter '{name}'; valid: "
                        f"{', '.join(DIMENSIONS)} (a model = \"module:function\" builder may "
                        f"suggest names of its own)")
    where = f"{where} {name}"
    if isinstance(raw, dict):
        return _parse_range(dim, name, raw, where)
    if isinstance(raw, list):
        if not raw:
            raise SpecError(f"{where}: the list of choices is empty; list at least one value")
        values = tuple(_check_value(dim, v, where) for v in raw)
        if len(set(values)) != len(values):
            raise SpecError(f"{where}: the choices {list(raw)} repeat a value; list each once")
        return Choice(values)
    return Fixed(_check_value(dim, raw, where))


def _parse_range(dim: Dimension, name: str, raw: dict[str, Any], where: str) -> Range:
    if dim.kind not in ("int", "float"):
        raise SpecError(f"{where}: a {{low, high}} range is only for numbers; give a list of "
                        f"choices instead ({dim.expected()})")
    _reject_unknown(raw, _RANGE_KEYS, where)
    missing = [k for k in ("low", "high") if k not in raw]
    if missing:
        raise SpecError(f"{where}: the range needs {' and '.join(missing)}; write "
                        f"{name} = {{ low = ..., high = ... }}")
    low = _check_value(dim, raw["low"], f"{where}.low")
    high = _check_value(dim, raw["high"], f"{where}.high")
    log = raw.get("log", False)
    step = raw.get("step")
    if not isinstance(log, bool):
        raise SpecError(f"{where}.log: got {log!r}; expected true or false")
    if low > high:
        raise SpecError(f"{where}: low ({low}) > high ({high}); expected low <= high, swap them")
    if log and low <= 0:
        raise SpecError(f"{where}: a log range needs low > 0, got low = {low}; "
                        f"raise low or set log = false")
    if step is not None:
        if log:
            raise SpecError(f"{where}: log and step cannot both be set; drop one")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or (
            dim.kind == "int" and not isinstance(step, int)
        ):
            raise SpecError(f"{where}.step: got {step!r}; expected a positive "
                            f"{'integer' if dim.kind == 'int' else 'number'}")
    return Range(low=low, high=high, log=log, step=step, integer=dim.kind == "int")


def _check_value(dim: Any, value: Any, where: str) -> Any:
    try:
        return dim.check(value)
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def _parse_data(raw: Mapping[str, Any], where: str) -> DataSpec:
    _reject_unknown(raw, _DATA_KEYS | {"base_dir"}, where)
    raw = dict(raw)
    if "image_size" in raw:
        size = raw["image_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v >= 1
                                                                  for v in size)):
            raise SpecError(f"{where}: image_size: got {size!r}; expected [height, width] in "
                            f"pixels, e.g. image_size = [64, 64]")
        raw["image_size"] = tuple(size)
    if "loader" in raw:
        raw.setdefault("dataset", "loader")
    for key in ("categorical", "numeric", "ignore"):
        if key in raw:
            names = raw[key]
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise SpecError(f"{where}: {key}: got {names!r}; expected a list of column "
                                f"names, e.g. {key} = [\"island\"]")
            raw[key] = tuple(names)
    data = DataSpec(**raw)
    if data.dataset not in DATASETS:
        raise SpecError(f"{where}: unknown dataset '{data.dataset}'; valid: {', '.join(DATASETS)}")
    needs = {"npz": "path = \"file.npz\" holding x_train, y_train (and x_test, y_test, or x, y)",
             "csv": "path = \"file.csv\" with a header row, and target = \"column\"",
             "images": "path = \"folder\" holding one sub-folder of images per class",
             "loader": "loader = \"module:function\" returning (train, validation, test) "
                       "datasets"}
    if data.dataset in needs and not (data.loader if data.dataset == "loader" else data.path):
        raise SpecError(f"{where}: dataset '{data.dataset}' needs {needs[data.dataset]}")
    if data.dataset == "csv" and not isinstance(data.target, str):
        raise SpecError(f"{where}: dataset 'csv' needs target = \"column\", the name of the "
                        f"column to predict")
    if data.loader is not None and (data.dataset != "loader" or not isinstance(data.loader, str)
                                    or ":" not in data.loader):
        raise SpecError(f"{where}: loader: got {data.loader!r} with dataset = "
                        f"{data.dataset!r}; expected loader = \"module:function\" (and no "
                        f"other dataset)")
    for key, valid in (("task", TASKS), ("scale", SCALES), ("color_mode", COLOR_MODES),
                       ("cache", CACHES)):
        value = getattr(data, key)
        if value is not None and value not in valid:
            what = "an unknown task" if key == "task" else f"unknown {key}"
            raise SpecError(f"{where}: {key}: {what} {value!r}; valid: {', '.join(valid)}"
                            + (" (or leave it out to infer it from the labels)"
                               if key == "task" else ""))
    t = data.test_size
    if not ((_is_int(t) and t >= 1) or (isinstance(t, float) and 0 < t < 1)):
        raise SpecError(f"{where}: test_size: got {t!r}; expected a number of examples (an "
                        f"integer >= 1) or a fraction between 0 and 1")
    v = data.validation_size
    valid = (_is_int(v) and v >= 1) or (isinstance(v, float) and 0 < v < 1)
    if not valid:
        raise SpecError(f"{where}: validation_size: got {v!r}; expected a number of examples "
                        f"(an integer >= 1) or a fraction between 0 and 1")
    k = data.cv_folds
    if not _is_int(k) or k == 1 or k < 0:
        raise SpecError(f"{where}: cv_folds: got {k!r}; expected an integer >= 2 (or 0 / leave "
                        f"it out for a single validation split)")
    return data


def _check_budget(budget: Budget, where: str) -> None:
    for key in ("trials", "max_epochs"):
        value = getattr(budget, key)
        if not _is_int(value) or value < 1:
            raise SpecError(f"{where}: {key}: got {value!r}; expected an integer >= 1")
    if not _is_int(budget.patience) or budget.patience < 0:
        raise SpecError(f"{where}: patience: got {budget.patience!r}; expected an integer >= 0 "
                        f"(0 turns early stopping off)")
    t = budget.timeout
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0):
        raise SpecError(f"{where}: timeout: got {t!r}; expected seconds > 0 (or leave it out)")


def _check_grid(spec: StudySpec) -> None:
    if spec.sampler.name != "grid":
        return
    from hpo.space import grid_space

    try:
        grid_space(spec.space)
    except ValueError as e:
        raise SpecError(f"{spec.source} [space]: {e}") from None


def _parse_component(raw: Mapping[str, Any], default: str, where: str) -> Component:
    options = dict(raw)
    name = options.pop("name", default)
    if not isinstance(name, str):
        raise SpecError(f"{where}: name: got {name!r}; expected a string")
    return Component(name=name, options=MappingProxyType(options))


def _table(raw: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{source}: '{key}' must be a table ([{key}]), got {value!r}")
    return value


def _reject_unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key '{unknown[0]}'; valid keys: "
                        f"{', '.join(sorted(allowed))}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def builder_name(model: str | Callable[..., Any]) -> str:
    """How a study, a config and the dashboard name a builder: "mlp", or "module:function"."""
    if isinstance(model, str):
        return model
    return f"{model.__module__}:{model.__qualname__}"
