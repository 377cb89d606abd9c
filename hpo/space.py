"""The search space: every hyperparameter hpo knows, and ``suggest(trial, space) -> params``.

This module is the one place where hyperparameter names live. A study file picks a domain for
some of them (a range, a list of choices or a pinned value); the others keep the default given
here. ``suggest`` is define-by-run and conditional: SGD's momentum and nesterov are sampled only
when the optimizer is SGD, Adam's betas only for the Adam family, one width per layer.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

OPTIMIZERS = ("sgd", "adam", "nadam", "rmsprop", "adagrad", "adadelta")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "leaky_relu")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "random_normal",
    "random_uniform",
)
POOLINGS = ("max", "average", "none")
# The output layer and the loss that goes with it: the usual softmax + cross-entropy, or the
# notebooks' relu outputs trained with mean squared error against one-hot labels.
HEADS = ("softmax_crossentropy", "relu_mse")
# How the learning rate changes over a run: Keras 2's inverse-time decay (constant at decay 0),
# or a cosine from the initial rate down to 0 at the run's last possible epoch.
SCHEDULES = ("inverse_time", "cosine")
_INVERSE_TIME = frozenset({"inverse_time"})
_SGD = frozenset({"sgd"})
_ADAM_FAMILY = frozenset({"adam", "nadam"})
_CNN = frozenset({"cnn"})

Scalar = bool | int | float | str


@dataclass(frozen=True)
class Dimension:
    """What one hyperparameter is: its type, its valid values and its default."""

    kind: str  # "float", "int", "bool", "choice", "layers" or "any" (a builder's own scalar)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    open_minimum: bool = False  # the minimum itself is not allowed
    open_maximum: bool = False
    optimizers: frozenset[str] | None = None  # sampled only for these optimizers
    schedules: frozenset[str] | None = None  # sampled only for these learning-rate schedules
    families: frozenset[str] | None = None  # only these model families have it
    # One parameter per layer, counted by this dimension: units_1, units_2, ... for n_layers.
    per: str | None = None

    @property
    def per_layer(self) -> bool:
        return self.per is not None

    @property
    def gate(self) -> tuple[str, frozenset[str]] | None:
        """The dimension this one is conditional on and the values that sample it: Adam's
        betas on ``("optimizer", {"adam", "nadam"})``, decay on the inverse-time schedule."""
        if self.optimizers is not None:
            return "optimizer", self.optimizers
        if self.schedules is not None:
            return "schedule", self.schedules
        return None

    def expected(self) -> str:
        """A short phrase for error messages: what a value of this dimension must be."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "layers":
            return "a list of layer widths, e.g. [128, 64]"
        if self.kind == "any":
            return "a number, a string or true/false"
        noun = "an integer" if self.kind == "int" else "a number"
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.open_minimum else '>='} {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"{'<' if self.open_maximum else '<='} {self.maximum:g}")
        return noun + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value: Any) -> Scalar:
        """Return ``value`` (ints widened to float for float dimensions) or raise ValueError."""
        if self.kind == "any":
            if not isinstance(value, (bool, int, float, str)):
                raise ValueError(f"got {value!r}; expected a number, a string or true/false")
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(f"unknown value {value!r}; valid: {', '.join(self.choices)}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"got {value!r}; expected true or false")
            return value
        if self.kind == "layers":
            widths = value if isinstance(value, list) else None
            if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                     for w in widths):
                raise ValueError(f"got {value!r}; expected {self.expected()}")
            return layers_name(widths)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"got {value!r}; expected {self.expected()}")
        if self.kind == "int":
            if not isinstance(value, int):
                raise ValueError(f"got {value!r}; expected {self.expected()}")
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"got {value!r}; expected {self.expected()}")
        too_low = self.minimum is not None and (
            value < self.minimum or (self.open_minimum and value == self.minimum)
        )
        too_high = self.maximum is not None and (
            value > self.maximum or (self.open_maximum and value == self.maximum)
        )
        if too_low or too_high:
            raise ValueError(f"got {value!r}; expected {self.expected()}")
        return value


DIMENSIONS: dict[str, Dimension] = {
    "optimizer": Dimension("choice", "adam", "the Keras optimizer", choices=OPTIMIZERS),
    "learning_rate": Dimension(
        "float", None, "initial learning rate (default: the optimizer's own)",
        minimum=0.0, open_minimum=True,
    ),
    "decay": Dimension(
        "float", 0.0, "inverse-time decay: lr / (1 + decay * step), Keras 2's decay=",
        minimum=0.0, schedules=_INVERSE_TIME,
    ),
    "schedule": Dimension(
        "choice", "inverse_time", "learning-rate schedule: inverse_time (with decay; constant "
        "at decay 0) or cosine (from learning_rate to 0 over the study's max_epochs)",
        choices=SCHEDULES,
    ),
    "momentum": Dimension(
        "float", 0.0, "SGD momentum", minimum=0.0, maximum=1.0, open_maximum=True,
        optimizers=_SGD,
    ),
    "nesterov": Dimension("bool", False, "SGD with Nesterov momentum", optimizers=_SGD),
    "beta_1": Dimension(
        "float", 0.9, "Adam/Nadam beta_1", minimum=0.0, maximum=1.0, open_maximum=True,
        optimizers=_ADAM_FAMILY,
    ),
    "beta_2": Dimension(
        "float", 0.999, "Adam/Nadam beta_2", minimum=0.0, maximum=1.0, open_maximum=True,
        optimizers=_ADAM_FAMILY,
    ),
    "batch_size": Dimension("int", 128, "examples per gradient step", minimum=1),
    "n_layers": Dimension("int", 2, "number of hidden dense layers", minimum=1, maximum=16),
    "units": Dimension(
        "int", 128, "width of each hidden dense layer (units_1, units_2, ...)", minimum=1,
        per="n_layers",
    ),
    "layers": Dimension(
        "layers", None, "whole architectures instead of n_layers and units: [[128], [128, 64]]"
    ),
    "activation": Dimension("choice", "relu", "hidden-layer activation", choices=ACTIVATIONS),
    "initializer": Dimension(
        "choice", "glorot_uniform", "kernel initializer", choices=INITIALIZERS
    ),
    "l1": Dimension("float", 0.0, "L1 penalty on weights", minimum=0.0),
    "l2": Dimension("float", 0.0, "L2 penalty on weights", minimum=0.0),
    "activity_l1": Dimension("float", 0.0, "L1 penalty on layer outputs", minimum=0.0),
    "activity_l2": Dimension("float", 0.0, "L2 penalty on layer outputs", minimum=0.0),
    "dropout": Dimension(
        "float", 0.0, "dropout rate after each hidden dense layer", minimum=0.0, maximum=1.0,
        open_maximum=True,
    ),
    "head": Dimension("choice", HEADS[0], "output activation and loss", choices=HEADS),
    "conv_blocks": Dimension(
        "int", 2, "convolution blocks (conv, pooling, dropout)", minimum=1, maximum=4,
        families=_CNN,
    ),
    "filters": Dimension(
        "int", 32, "filters of each block's convolution (filters_1, filters_2, ...)",
        minimum=1, per="conv_blocks", families=_CNN,
    ),
    "kernel_size": Dimension("int", 3, "convolution kernel size", minimum=1, maximum=9,
                             families=_CNN),
    "pooling": Dimension("choice", "max", "2x2 pooling after each convolution",
                         choices=POOLINGS, families=_CNN),
    "conv_dropout": Dimension(
        "float", 0.0, "dropout rate after each convolution block", minimum=0.0, maximum=1.0,
        open_maximum=True, families=_CNN,
    ),
}


@dataclass(frozen=True)
class Fixed:
    """A dimension pinned to one value in the study file."""

    value: Scalar

    def suggest(self, trial: optuna.Trial, name: str) -> Scalar:
        # Suggested as a one-choice categorical so that every trial stores its complete config.
        return trial.suggest_categorical(name, [self.value])

    def grid(self) -> list[Scalar]:
        return [self.value]

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value}


@dataclass(frozen=True)
class Choice:
    """A categorical dimension: one of a list of values."""

    values: tuple[Scalar, ...]

    def suggest(self, trial: optuna.Trial, name: str) -> Scalar:
        return trial.suggest_categorical(name, list(self.values))

    def grid(self) -> list[Scalar]:
        return list(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"choices": list(self.values)}


@dataclass(frozen=True)
class Range:
    """A numeric range, sampled uniformly or on a log scale, optionally on a step grid."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None
    integer: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> int | float:
        if self.integer:
            return trial.suggest_int(
                name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}

    def at_bound(self, value: float) -> str | None:
        """"low" or "high" when ``value`` sits within 2% of the range's width (on a log
        scale for a log range) of that end: the best may lie beyond it."""
        if self.high <= self.low or not isinstance(value, (int, float)):
            return None
        scale = math.log if self.log else (lambda v: v)
        if self.log and value <= 0:
            return None
        low, high, v = scale(self.low), scale(self.high), scale(value)
        margin = 0.02 * (high - low)
        if self.integer and not self.log:
            margin = max(margin, 0.0)
        if v <= low + margin:
            return "low"
        if v >= high - margin:
            return "high"
        return None

    def grid(self) -> list[int | float] | None:
        """The grid points of a stepped range; None when the range is continuous."""
        if self.integer and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is not None and not self.log:
            n = int(round((self.high - self.low) / self.step))
            return [round(self.low + i * self.step, 12) for i in range(n + 1)]
        return None


Domain = Fixed | Choice | Range

# The dimensions that configure the optimizer: hpo samples them when it compiles a model that a
# builder returned uncompiled. Which optimizer takes which of them is each Dimension's
# ``optimizers`` (the one place that rule is stated).
OPTIMIZER_DIMENSIONS = ("optimizer", "learning_rate", "schedule", "decay", "momentum", "nesterov",
                        "beta_1", "beta_2")


def optimizer_options(name: str) -> list[str]:
    """The dimensions that optimizer ``name`` takes beyond learning_rate and decay."""
    return [d for d, dim in DIMENSIONS.items() if dim.optimizers and name in dim.optimizers]


def builder_dimension(name: str, raw: Any) -> Dimension:
    """The dimension of a ``[space]`` name hpo does not know, that a builder suggests itself:
    an int or float range by its bounds, otherwise any scalar."""
    if isinstance(raw, dict):
        bounds = [raw.get("low"), raw.get("high")]
        is_int = all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        return Dimension("int" if is_int else "float", None, f"the builder's own {name}")
    return Dimension("any", None, f"the builder's own {name}")


def layers_name(widths: list[int]) -> str:
    """An architecture as Optuna stores a choice: [128, 64] -> "128-64"."""
    return "-".join(str(w) for w in widths)


def layer_param(i: int, name: str = "units") -> str:
    """The parameter name of layer ``i``'s value of per-layer dimension ``name`` (1-based)."""
    return f"{name}_{i}"


def _count(params: Mapping[str, Any], dim: Dimension) -> int:
    """How many layers a per-layer dimension has in ``params`` (its count, else the default)."""
    assert dim.per is not None
    return int(params.get(dim.per, DIMENSIONS[dim.per].default))


def suggest(trial: optuna.Trial, space: Mapping[str, Domain],
            inherited: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Sample one configuration from ``space``; dimensions the space leaves out are not set.

    ``inherited`` parameters (another study's best, see ``inherit``) are stored as pins.
    Works with a real trial (the search) and with ``optuna.trial.FixedTrial`` (a rebuild).
    """
    params: dict[str, Any] = {}
    gates = ("optimizer", "schedule")  # what other dimensions are conditional on: first
    for name in gates:
        if name in space:
            params[name] = space[name].suggest(trial, name)
    for name, dim in DIMENSIONS.items():
        if name in gates or dim.per_layer or name not in space:
            continue
        if dim.gate is not None:
            on, values = dim.gate
            if params.get(on, (inherited or {}).get(on, DIMENSIONS[on].default)) not in values:
                continue
        params[name] = space[name].suggest(trial, name)
    for name, dim in DIMENSIONS.items():
        if dim.per_layer and name in space:
            for i in range(1, _count(params, dim) + 1):
                params[layer_param(i, name)] = space[name].suggest(trial, layer_param(i, name))
    for name, value in (inherited or {}).items():
        if name not in params:
            params[name] = trial.suggest_categorical(name, [value])
    return params


def inherit(params: Mapping[str, Any], space: Mapping[str, Domain]) -> dict[str, Any]:
    """The parameters of ``params`` (a trial's) that a study searching ``space`` keeps fixed.

    A per-layer parameter goes with its dimension and with its layer count: a study that
    searches ``n_layers`` or ``units`` inherits none of ``units_1, units_2, ...``.
    """
    kept = {}
    for name, value in params.items():
        base, _, index = name.rpartition("_")
        dim = DIMENSIONS.get(base) if index.isdigit() else None
        if dim is not None and dim.per is not None:
            if base in space or dim.per in space or (dim.per == "n_layers" and "layers" in space):
                continue
        elif DIMENSIONS.get(name) and DIMENSIONS[name].gate and DIMENSIONS[name].gate[0] in space:
            continue  # e.g. Adam's betas, when this study picks the optimizer itself
        elif name in space or (name in ("n_layers", "units") and "layers" in space) or (
                name == "layers" and ({"n_layers", "units"} & set(space))):
            continue
        kept[name] = value
    return kept


# Known-good configurations each built-in family tries first when its study file names none
# ([[enqueue]]): the textbook networks of Keras's MNIST examples. Projected onto the study's
# space (``project``), they spend the first trial where hand-tuning ends instead of on a
# random draw.
STARTS: dict[str, tuple[dict[str, Any], ...]] = {
    # Keras's mnist_mlp network (two 512-unit relu layers, dropout 0.2), trained with Adam at
    # 2e-3 in batches of 256, its rate run down to 0 by a cosine over the study's max_epochs:
    # retrained on MNIST's 60 000 here for 12 epochs it tests at 0.986 (seeds 1, 2: 0.9856,
    # 0.9866), where the same with inverse-time decay 2e-3 tested at 0.983-0.984. In a space
    # without ``schedule`` the start keeps that inverse-time decay.
    "mlp": ({"optimizer": "adam", "learning_rate": 2e-3, "schedule": "cosine", "decay": 2e-3,
             "batch_size": 256, "n_layers": 2, "units_1": 512, "units_2": 512,
             "activation": "relu", "initializer": "glorot_uniform", "l1": 0.0, "l2": 0.0,
             "activity_l1": 0.0, "activity_l2": 0.0, "dropout": 0.2, "beta_1": 0.9,
             "beta_2": 0.999},
            # The same net twice as wide, with dropout 0.3, at 3x the cost: 0.987 (0.9869,
            # 0.9871) where inverse-time decay gave 0.985. Tried second: where its remaining
            # epochs would take more than half of the time left, the time guard stops it after
            # its first epoch (unless it leads).
            {"optimizer": "adam", "learning_rate": 2e-3, "schedule": "cosine", "decay": 2e-3,
             "batch_size": 256, "n_layers": 2, "units_1": 1024, "units_2": 1024,
             "activation": "relu", "initializer": "glorot_uniform", "l1": 0.0, "l2": 0.0,
             "activity_l1": 0.0, "activity_l2": 0.0, "dropout": 0.3, "beta_1": 0.9,
             "beta_2": 0.999}),
    # Keras's mnist_cnn: two conv blocks (32, 64), max pooling, dropout 0.25, dense 128 + 0.5,
    # Adam at 1e-3 run down to 0 by a cosine (constant in a space without ``schedule``).
    "cnn": ({"optimizer": "adam", "learning_rate": 1e-3, "schedule": "cosine", "decay": 0.0,
             "batch_size": 128, "conv_blocks": 2, "filters_1": 32, "filters_2": 64,
             "kernel_size": 3, "pooling": "max", "conv_dropout": 0.25, "activation": "relu",
             "initializer": "he_normal", "n_layers": 1, "units_1": 128, "dropout": 0.5,
             "beta_1": 0.9, "beta_2": 0.999},),
}


def domain_of(space: Mapping[str, Domain], name: str) -> Domain | None:
    """The domain a stored parameter ``name`` is drawn from (``units_2`` from ``units``)."""
    base, _, index = name.rpartition("_")
    if index.isdigit() and base in DIMENSIONS and DIMENSIONS[base].per_layer:
        return space.get(base)
    return space.get(name)


def project(params: Mapping[str, Any], space: Mapping[str, Domain],
            clip: bool = False) -> dict[str, Any]:
    """The part of ``params`` (a configuration, another study's trial) that ``space`` searches:
    values its ranges and choices allow. ``clip``: a number outside its range is moved to the
    nearer bound instead of dropped (a known-good start in a narrower space)."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        domain = domain_of(space, name)
        if isinstance(domain, Choice) and value in domain.values:
            kept[name] = value
        elif isinstance(domain, Range) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            inside = domain.low <= value <= domain.high
            if not inside and not clip:
                continue
            value = min(max(value, domain.low), domain.high)
            kept[name] = int(round(value)) if domain.integer else float(value)
    return {name: value for name, value in kept.items() if _gate_open(name, kept, space)}


def _gate_open(name: str, chosen: Mapping[str, Any], space: Mapping[str, Domain]) -> bool:
    """Whether ``name`` is sampled given the ``chosen`` values (else the space's pin, else the
    default) of what it is conditional on: decay under a cosine schedule is not."""
    dim = DIMENSIONS.get(name)
    if dim is None or dim.gate is None:
        return True
    on, values = dim.gate
    pinned = space.get(on)
    value = chosen.get(on, pinned.value if isinstance(pinned, Fixed) else DIMENSIONS[on].default)
    return value in values


def distribution(domain: Domain) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution a trial records for a parameter drawn from ``domain``."""
    if isinstance(domain, Range):
        if domain.integer:
            return optuna.distributions.IntDistribution(
                int(domain.low), int(domain.high), log=domain.log, step=int(domain.step or 1))
        return optuna.distributions.FloatDistribution(domain.low, domain.high, log=domain.log,
                                                      step=domain.step)
    values = domain.values if isinstance(domain, Choice) else (domain.value,)
    return optuna.distributions.CategoricalDistribution(list(values))


def resolve(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed with the defaults, as the model builder reads them.

    Unknown names are rejected: a config that names a hyperparameter hpo does not know would
    otherwise build a different model than the one it claims to describe.
    """
    per_layer = {name: dim for name, dim in DIMENSIONS.items() if dim.per_layer}
    known = set(DIMENSIONS) - set(per_layer)
    if params.get("layers") is not None:
        widths = [int(w) for w in str(params["layers"]).split("-")]
        params = {k: v for k, v in params.items() if k != "layers"}
        params.update({"n_layers": len(widths)},
                      **{layer_param(i): w for i, w in enumerate(widths, start=1)})
    layer_names = {layer_param(i, name) for name, dim in per_layer.items()
                   for i in range(1, _count(params, dim) + 1)}
    unknown = sorted(set(params) - known - layer_names)
    if unknown:
        counts = ", ".join(f"{name}_1..{name}_{_count(params, dim)}"
                           for name, dim in per_layer.items())
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sorted(known))} and {counts}"
        )
    full = {name: dim.default for name, dim in DIMENSIONS.items() if not dim.per_layer}
    full.update({k: v for k, v in params.items() if k in known})
    full.pop("layers")
    for name, dim in per_layer.items():
        full[name] = [params.get(layer_param(i, name), dim.default)
                      for i in range(1, _count(params, dim) + 1)]
    return full


def signature(space: Mapping[str, Domain]) -> dict[str, str]:
    """A JSON-able fingerprint of ``space``: Optuna cannot resume a study whose choices changed."""
    return {name: repr(domain) for name, domain in sorted(space.items())}


def grid_space(space: Mapping[str, Domain]) -> dict[str, list[Scalar]]:
    """The search space as Optuna's GridSampler wants it; ValueError names a continuous range."""
    grid: dict[str, list[Scalar]] = {}
    for name, domain in space.items():
        values = domain.grid()
        if values is None:
            raise ValueError(
                f"the grid sampler needs every dimension to be a list, a pinned value or a "
                f"stepped range; '{name}' is a continuous range: list its values, e.g. "
                f"{name} = [{domain.low}, {domain.high}]"
            )
        dim = DIMENSIONS[name]
        if dim.per is not None:
            n_max = max(_possible_values(space, dim.per))
            for i in range(1, n_max + 1):
                grid[layer_param(i, name)] = values
        else:
            grid[name] = values
    return grid


def _possible_values(space: Mapping[str, Domain], name: str) -> list[Scalar]:
    domain = space.get(name)
    if domain is None:
        return [DIMENSIONS[name].default]
    return domain.grid() or [domain.high]


# -- hpo's dimensions inside a model builder ---------------------------------------------------

@dataclass
class Sampling:
    """Where a builder's ``hpo.params`` / ``hpo.param`` calls get their values from.

    In the search: the study's ``[space]`` (and the parameters it inherits), sampled on the
    trial. In a rebuild (the final retrain, an export): ``fixed``, a trial's stored params.
    ``used`` collects the names hpo was asked for, so that a ``[space]`` entry nobody reads is
    caught before the search starts.
    """

    space: Mapping[str, Domain] = field(default_factory=dict)
    inherited: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] | None = None
    used: set[str] = field(default_factory=set)
    run: Run | None = None


@dataclass(frozen=True)
class Run:
    """The training run a model is built for: what a schedule over the run needs to know.

    ``examples``: training examples per epoch; ``epochs``: the most epochs it may train (the
    study's max_epochs, for a trial and for its retrain alike, so that both follow the same
    learning rate epoch by epoch).
    """

    examples: int
    epochs: int

    def steps(self, batch_size: int) -> int:
        """Gradient steps in the whole run at ``batch_size``."""
        return self.epochs * max(1, math.ceil(self.examples / max(1, int(batch_size))))

    def to_json(self) -> dict[str, int]:
        return {"examples": self.examples, "epochs": self.epochs}


def current_run() -> Run | None:
    """The run the model being built is for (None outside hpo's search, retrain and rebuild)."""
    context = _CURRENT.get()
    return context.run if context is not None else None


_CURRENT: contextvars.ContextVar[Sampling | None] = contextvars.ContextVar("hpo_sampling",
                                                                           default=None)


@contextlib.contextmanager
def sampling(space: Mapping[str, Domain] | None = None,
             inherited: Mapping[str, Any] | None = None,
             fixed: Mapping[str, Any] | None = None,
             run: Run | None = None) -> Iterator[Sampling]:
    """Within this block, ``params`` and ``param`` sample ``space`` or read ``fixed``; a model
    built in it is for ``run`` (see ``current_run``)."""
    context = Sampling(dict(space or {}), dict(inherited or {}),
                       dict(fixed) if fixed is not None else None, run=run)
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def _context() -> Sampling:
    context = _CURRENT.get()
    if context is None:
        raise RuntimeError(
            "hpo.params(trial) and hpo.param(trial, name) read the study's [space]: call the "
            "builder through hpo (the search, hpo.tune, hpo.model_from_config), or wrap the call "
            "in `with hpo.space.sampling(fixed=params):` to build from known params")
    return context


def _named(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``params`` that names hpo's own dimensions (a builder's own are left out)."""
    kept = {}
    for name, value in params.items():
        base, _, index = name.rpartition("_")
        per_layer = index.isdigit() and base in DIMENSIONS and DIMENSIONS[base].per_layer
        if per_layer or (name in DIMENSIONS and not DIMENSIONS[name].per_layer):
            kept[name] = value
    return kept


def params(trial: optuna.Trial) -> dict[str, Any]:
    """All of hpo's named dimensions for this trial, defaults filled in, as the built-in
    builders read them: ``units`` and ``filters`` are lists, one entry per layer.

    Dimensions in the study's ``[space]`` are sampled on ``trial`` (conditionally: SGD's
    momentum only for SGD); the others keep their defaults.
    """
    context = _context()
    if context.fixed is not None:
        return resolve(_named(context.fixed))
    context.used.update(context.space)
    named = {k: v for k, v in context.space.items() if k in DIMENSIONS}
    return resolve(suggest(trial, named, _named(context.inherited)))


_MISSING = object()


def param(trial: optuna.Trial, name: str, default: Any = _MISSING) -> Any:
    """One dimension for this trial: sampled from the study's ``[space]`` if it lists
    ``name``, else its default (hpo's for its named dimensions, ``default`` for a builder's own).

    ``hpo.param(trial, "dropout")`` takes the range the study file gives; a builder's own
    ``hpo.param(trial, "kernel_size", 3)`` lets the study file set ``kernel_size = [3, 5]``.
    """
    context = _context()
    dim = DIMENSIONS.get(name)
    if dim is not None and dim.per_layer:
        count = int(param(trial, dim.per))
        return [param(trial, layer_param(i, name), dim.default) for i in range(1, count + 1)]
    base, _, index = name.rpartition("_")
    domain_name = base if index.isdigit() and base in DIMENSIONS and DIMENSIONS[base].per_layer \
        else name
    context.used.add(domain_name)
    fallback = default if default is not _MISSING else (dim.default if dim else _MISSING)
    if context.fixed is not None:
        if name in context.fixed:
            return context.fixed[name]
        if fallback is _MISSING:
            raise KeyError(f"the params hold no '{name}' and hpo.param was given no default")
        return fallback
    if dim is not None and dim.gate is not None and param(trial, dim.gate[0]) not in dim.gate[1]:
        return dim.default  # e.g. momentum for Adam: not sampled, not stored
    if domain_name in context.space:
        return context.space[domain_name].suggest(trial, name)
    if name in context.inherited:
        return trial.suggest_categorical(name, [context.inherited[name]])
    if fallback is _MISSING:
        raise ValueError(f"hpo.param(trial, {name!r}): the study's [space] has no '{name}' "
                         f"and no default was given; add {name} to [space] or pass a default")
    return fallback
