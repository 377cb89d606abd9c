"""Model builders: ``build(trial[, info]) -> keras.Model``, found by name and checked once.

A study names its model with ``model = "module:function"`` (``"mlp"`` and ``"cnn"`` are hpo's
own, in ``hpo.models``). The function is imported from the study file's folder, then from the
working directory, in every worker process too. It is called with an Optuna trial (a real one in
the search, a ``FixedTrial`` of the chosen params in the final retrain and an export) and, if it
takes a second argument, a :class:`~hpo.data.DataInfo` (input shape, task, classes, outputs).

A model returned uncompiled is compiled here with the study's optimizer dimensions and the
task's loss and metrics; a compiled one is trained as it is. ``probe`` calls the builder before
the study exists, so that a builder that cannot be imported, returns no Keras model, ends in the
wrong number of outputs, leaves a ``[space]`` entry unused or logs no such metric stops the run
with a one-line error and nothing stored.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import interrupt
from hpo.errors import SpecError
from hpo.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import keras
    import optuna

    from hpo.data import DataInfo, SearchData
    from hpo.space import Run
    from hpo.spec import StudySpec

Builder = Callable[..., Any]
BUILTIN = {"mlp": "hpo.models:mlp", "cnn": "hpo.models:cnn"}


class BadModel(TypeError):
    """The builder returned no Keras model, or one whose outputs do not fit the data: in the
    search such a trial fails with the reason; ``probe`` makes it a setup error first."""


def load_builder(model: str | Builder, base_dir: str | Path | None = None,
                 *more_dirs: str | Path | None) -> Builder:
    """The builder function ``model`` names, imported from ``base_dir`` (the study file's
    folder), then the working directory, then ``more_dirs``, then the installed packages."""
    if callable(model):
        return model
    return load_function(BUILTIN.get(model, model), base_dir, *more_dirs, key="model",
                         shown=model, does="takes an Optuna trial and returns a Keras model")


def load_function(reference: str, base_dir: str | Path | None = None,
                  *more_dirs: str | Path | None, key: str, does: str,
                  shown: str | None = None) -> Callable[..., Any]:
    """The function ``reference`` ("module:function") names, found as ``load_builder`` finds
    one; SpecError naming the study-file ``key`` if it cannot be imported or is not callable.
    """
    shown = shown or reference
    module_name, _, attr = reference.partition(":")
    folders = [base_dir, Path.cwd(), *more_dirs]
    for folder in reversed([str(Path(f)) for f in folders if f]):
        if folder not in sys.path:
            sys.path.insert(0, folder)  # base_dir ends up first
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f"{base_dir} or {Path.cwd()}" if base_dir else str(Path.cwd())
        raise SpecError(f"{key}: cannot import module '{module_name}' for {shown!r} "
                        f"({type(e).__name__}: {e}); put {module_name.replace('.', '/')}.py in "
                        f"{where} or install it") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed while importing
        raise SpecError(f"{key}: importing module '{module_name}' for {shown!r} raised "
                        f"{type(e).__name__}: {_first_line(e)}; fix the module") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            defined = sorted(n for n, v in vars(module).items()
                             if callable(v) and not n.startswith("_"))
            raise SpecError(f"{key}: module '{module_name}' has no '{attr}' (it defines: "
                            f"{', '.join(defined) or 'nothing callable'}); fix {key} = "
                            f"\"{module_name}:FUNCTION\"")
    if not callable(target):
        raise SpecError(f"{key}: {shown!r} is a {type(target).__name__}, not a function; name "
                        f"a function that {does}")
    return target


def takes_info(builder: Builder) -> bool:
    """Whether ``builder`` takes the DataInfo after the trial."""
    try:
        parameters = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def build(builder: Builder, trial: optuna.Trial, info: DataInfo,
          steps_per_execution: int = 1) -> keras.Model:
    """Call ``builder`` on ``trial`` and return a compiled model that fits ``info``.

    Raises BadModel for something that is not a Keras model or outputs that do not fit.
    """
    import keras

    model = builder(trial, info) if takes_info(builder) else builder(trial)
    if not isinstance(model, keras.Model):
        raise BadModel(f"the builder returned {_describe(model)}, not a keras.Model; return "
                        f"the model (e.g. keras.Sequential([...]) or keras.Model(inputs, "
                        f"outputs))")
    check_outputs(model, info)
    if not model.compiled:
        compile_model(model, trial, info, steps_per_execution=steps_per_execution)
    return model


def rebuild(builder: Builder, params: Mapping[str, Any], info: DataInfo,
            steps_per_execution: int = 1, run: Run | None = None) -> keras.Model:
    """The model ``builder`` makes for fixed ``params`` (a trial's): a FixedTrial of them,
    hpo's named dimensions read from them too; for ``run`` (a cosine schedule's length)."""
    import optuna

    from hpo.space import sampling

    with sampling(fixed=params, run=run):
        return build(builder, optuna.trial.FixedTrial(dict(params)), info, steps_per_execution)


def describe(model: keras.Model) -> dict[str, Any]:
    """The model as Keras alone rebuilds it: ``keras.models.model_from_json(json.dumps(
    d["model"]))`` and ``keras.optimizers.deserialize(d["optimizer"])`` (its learning rate
    schedule included), then compile with ``d["loss"]`` and ``d["metrics"]``."""
    compiled = model.get_compile_config() or {}  # Keras's own serialization of compile()
    return {
        "model": json.loads(model.to_json()),
        "optimizer": compiled.get("optimizer"),
        "loss": compiled.get("loss"),
        "metrics": compiled.get("metrics"),
    }


def versions() -> dict[str, str | None]:
    """The versions an export was written with (read from the installed packages)."""
    from importlib import metadata

    from hpo import __version__

    found: dict[str, str | None] = {"hpo": __version__}
    for package in ("keras", "tensorflow", "optuna"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def check_outputs(model: keras.Model, info: DataInfo) -> None:
    """BadModel unless the model ends in as many outputs as the task needs."""
    try:
        width = model.outputs[0].shape[-1] if model.outputs else None
    except (AttributeError, ValueError):  # a subclassed model not built yet
        width = None
    if width is None:
        return
    allowed = info.output_widths()
    if int(width) not in allowed:
        what = (f"{info.n_classes} classes" if info.task == CLASSIFICATION
                else f"{info.n_outputs} target{'s' if info.n_outputs > 1 else ''}")
        raise BadModel(f"the model's output layer has {width} unit(s), but the data has "
                         f"{what}: end the model in Dense({' or '.join(map(str, allowed))})")


def compile_model(model: keras.Model, trial: optuna.Trial, info: DataInfo,
                  loss: Any = None, steps_per_execution: int = 1) -> keras.Model:
    """Compile ``model`` with the study's optimizer dimensions (optimizer, learning_rate,
    schedule, decay, momentum, nesterov, betas, sampled on ``trial``) and the task's loss and
    metrics."""
    from hpo.space import OPTIMIZER_DIMENSIONS, param, resolve
    from hpo.tasks import task_loss, task_metrics

    # The batch size too: a cosine's length in steps is the run's batches.
    p = resolve({name: param(trial, name) for name in (*OPTIMIZER_DIMENSIONS, "batch_size")})
    model.compile(optimizer=make_optimizer(p), loss=loss or task_loss(model, info),
                  metrics=task_metrics(model, info), steps_per_execution=steps_per_execution)
    return model


def make_optimizer(p: Mapping[str, Any], run: Run | None = None) -> keras.optimizers.Optimizer:
    """The Keras optimizer for resolved params: with inverse-time decay when decay > 0, or a
    cosine from the learning rate to 0 over ``run`` (default: the run hpo builds the model for,
    ``hpo.space.current_run()``) when the schedule is cosine."""
    import keras

    from hpo.space import current_run, optimizer_options

    kwargs: dict[str, Any] = {}
    name = p["optimizer"]
    lr = p["learning_rate"]
    if p.get("schedule") == "cosine":
        run = run or current_run()
        if run is None:
            raise ValueError(
                "schedule 'cosine' runs the learning rate down to 0 over the whole training "
                "run, whose length is unknown here: build the model through hpo (the search, "
                "the final retrain, hpo.model_from_config), or pass run=hpo.space.Run("
                "examples, epochs)")
        initial = lr if lr is not None else keras.optimizers.get(name).learning_rate
        lr = keras.optimizers.schedules.CosineDecay(
            float(initial), decay_steps=run.steps(int(p["batch_size"])))
    elif p["decay"] > 0:
        # Keras 2's `decay=` argument: lr_t = lr / (1 + decay * iterations).
        initial = lr if lr is not None else keras.optimizers.get(name).learning_rate
        lr = keras.optimizers.schedules.InverseTimeDecay(
            float(initial), decay_steps=1, decay_rate=p["decay"]
        )
    if lr is not None:
        kwargs["learning_rate"] = lr
    kwargs.update({option: p[option] for option in optimizer_options(name)})
    return keras.optimizers.get({"class_name": name, "config": kwargs})


# -- the probe: every setup error a builder can make, before the study exists ------------------

PROBES = 6  # at most this many sampled configurations, to reach a builder's conditional names


def probe(spec: StudySpec, data: SearchData, builder: Builder) -> None:
    """Build the study's model on sampled configurations and fit one on a few examples.

    Raises SpecError when the builder returns no Keras model, ends in the wrong number of
    outputs, leaves a ``[space]`` name unused by it and by hpo, or logs no ``spec.metric``. A
    builder that raises on some configurations only is left to fail those trials.
    """
    import keras
    import optuna

    from hpo.space import Run, sampling

    info = data.info()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory"
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=spec.seed))
    finally:
        optuna.logging.set_verbosity(verbosity)
    used: set[str] = {"batch_size"}
    errors: list[str] = []
    fitted = False
    for _ in range(PROBES):
        trial = study.ask()
        keras.backend.clear_session()
        # A run of the probe's own length: a schedule over the run needs one.
        with sampling(spec.space, spec.inherited,
                      run=Run(len(data.y_train), spec.budget.max_epochs)) as context:
            try:
                model = build(builder, trial, info)
            except BadModel as e:
                raise SpecError(f"model {spec.family}: {e}") from None
            except Exception as e:  # noqa: BLE001 - the builder's own failure, for now
                interrupt.raise_if_requested(e)  # Ctrl-C, not the builder's failure
                errors.append(f"{type(e).__name__}: {_first_line(e)}")
                continue
            used |= context.used | _bases(trial.params)
            if not fitted:
                _check_metric(spec, model, data)
                fitted = True
        if not unused(spec.space, used):
            break
    keras.backend.clear_session()
    if not fitted:
        raise SpecError(f"model {spec.family}: the builder raised on each of {PROBES} sampled "
                        f"configurations, e.g. {errors[0]}; fix the builder (--debug shows "
                        f"where)")
    missing = unused(spec.space, used)
    if missing:
        raise SpecError(
            f"{spec.source} [space]: {', '.join(missing)}: neither hpo nor the model builder "
            f"{spec.family} uses {'it' if len(missing) == 1 else 'them'} (the builder suggested: "
            f"{', '.join(sorted(used - {'batch_size'})) or 'nothing'}); remove the entry, or "
            f"read it in the builder with hpo.param(trial, {missing[0]!r})")


def unused(space: Mapping[str, Any], used: Iterable[str]) -> list[str]:
    from hpo.space import DIMENSIONS

    used = set(used)
    return sorted(name for name in space if name not in used and not (
        # Conditional on the optimizer or the schedule: read whenever that is, if not sampled
        # now (momentum for a trial that drew Adam).
        name in DIMENSIONS and DIMENSIONS[name].gate is not None
        and DIMENSIONS[name].gate[0] in used))


def _bases(names: Iterable[str]) -> set[str]:
    """Trial parameter names with per-layer ones (units_2) mapped to their dimension."""
    from hpo.space import DIMENSIONS

    out = set()
    for name in names:
        base, _, index = name.rpartition("_")
        per_layer = index.isdigit() and base in DIMENSIONS and DIMENSIONS[base].per_layer
        out.add(base if per_layer else name)
        if per_layer:
            out.add(DIMENSIONS[base].per)
    return out


def _check_metric(spec: StudySpec, model: keras.Model, data: SearchData) -> None:
    """Fit ``model`` one epoch on a few examples and look at what it logs."""
    feeder = data.probe_feeder(min(16, len(data.y_train)))
    try:
        logged = model.fit(feeder.train(8), validation_data=feeder.validation(), epochs=1,
                           shuffle=False, verbose=0).history
    except Exception as e:  # noqa: BLE001 - the model cannot train on this data at all
        raise SpecError(f"model {spec.family}: the model could not train on the data "
                        f"({type(e).__name__}: {_first_line(e)}); check its input shape "
                        f"{data.info().input_shape} and its loss") from None
    if spec.metric not in logged:
        names = ", ".join(k for k in logged if k.startswith("val_"))
        raise SpecError(f"[objective] metric: the model logs no {spec.metric!r}; it logs "
                        f"{names or 'no validation metric'} (compile it with that metric, or "
                        f"set [objective] metric to one of those)")


def _describe(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
