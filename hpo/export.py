"""``python -m hpo.export --study NAME --top K``: the best configs to files, and back to models.

A config file holds the parameters of one trial, the builder that made its model ("mlp",
"cnn" or "module:function"), what the model was built for (input shape, task, classes, outputs)
and how its inputs were scaled; ``model_from_config`` rebuilds the exact model its trial trained
(a builder of the user's must be importable where it runs: from the config's folder or the
working directory).

A multi-objective study has no single ranking, only its Pareto front: it exports the front's
members, most accurate (on validation) first, and ``--top K`` keeps the K most accurate of them.
A dominated trial is never exported: some member is at least as accurate and no larger.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from hpo import pareto
from hpo._cli import EXIT_OK, main_of, positive_int, stored_study_parser
from hpo.errors import HpoError
from hpo.storage import check_url, load_existing_study
from hpo.tasks import CLASSIFICATION

logger = logging.getLogger(__name__)

FORMATS = ("json", "yaml")


def top_configs(study, k: int | None = None, with_keras: bool = False
                ) -> list[dict[str, Any]]:
    """The ``k`` best complete trials of ``study`` as rebuildable configs, best first.

    A multi-objective study's candidates are its Pareto front members, by validation accuracy;
    each config says whether it is the ``recommended`` one. ``k`` None: the best trial, or the
    whole front. ``with_keras``: each config also gets ``keras``, the model as Keras alone
    rebuilds it (the builder is called to make it: TensorFlow is loaded).
    """
    from hpo.record import best_config

    multi = pareto.is_multi_objective(study)
    if multi:
        candidates = study.best_trials
        chosen = pareto.best_trial(study)
    else:
        candidates = [t for t in study.trials if t.state == TrialState.COMPLETE]
    candidates.sort(key=pareto.accuracy, reverse=study.directions[0].name == "MAXIMIZE")
    configs = []
    for rank, trial in enumerate(candidates[:k or (len(candidates) if multi else 1)], start=1):
        config = dict(best_config(study, trial))
        config["rank"] = rank
        if multi:
            config["recommended"] = trial.number == chosen.number
        if with_keras:
            from hpo.builders import describe, versions

            config.update(keras=describe(model_from_config(config)), versions=versions())
        configs.append(config)
    return configs


def write_configs(configs: Sequence[Mapping[str, Any]], out_dir: Path, fmt: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for config in configs:
        path = out_dir / f"top{config['rank']}-trial{config['trial']}.{fmt}"
        path.write_text(_dump(config, fmt), encoding="utf-8")
        paths.append(path)
    return paths


def load_config(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A config from a .json / .yaml file (as written by export or best.json) or a dict."""
    if isinstance(source, Mapping):
        config = dict(source)
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise HpoError(f"cannot read config {path}: {e}") from None
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                config = yaml.safe_load(text)
            else:
                config = json.loads(text)
        except ValueError as e:  # json and yaml errors both derive from ValueError
            raise HpoError(f"config {path} is not valid {path.suffix[1:]}: {e}") from None
    if config and "model" not in config and "family" in config:
        config["model"] = config["family"]  # configs written before builders
    missing = [k for k in ("model", "input_shape", "params") if k not in (config or {})]
    if missing:
        raise HpoError(f"config {source} lacks {', '.join(missing)}; expected a file written by "
                       f"hpo.export or the final step's best.json")
    return config


def model_from_config(source: str | Path | Mapping[str, Any], builder=None):
    """The compiled, untrained Keras model a config describes (same layers, same optimizer).

    ``builder``: the function to call instead of the one the config names (say, a notebook's
    ``build``, which no other process can import).
    """
    from hpo.builders import load_builder, rebuild
    from hpo.data import DataInfo
    from hpo.space import Run

    config = load_config(source)
    base_dir = None if isinstance(source, Mapping) else Path(source).resolve().parent
    builder = builder or load_builder(config["model"], base_dir, config.get("builder_dir"))
    task = config.get("task", CLASSIFICATION)
    n_classes = config.get("n_classes")
    info = DataInfo(tuple(config["input_shape"]), task, n_classes,
                    int(config.get("n_outputs") or n_classes or 1),
                    tuple(config["classes"]) if config.get("classes") else None)
    run = Run(**config["run"]) if config.get("run") else None  # a cosine schedule's length
    return rebuild(builder, config["params"], info, run=run)


def _dump(config: Mapping[str, Any], fmt: str) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(dict(config), sort_keys=False)
    return json.dumps(config, indent=2) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = stored_study_parser("hpo.export", "Write the best K configs of a stored study; "
               "hpo.model_from_config(FILE) rebuilds a model from one.")
    p.add_argument("--top", type=positive_int, metavar="K",
                   help="how many of the best complete trials (default: 1); for a "
                   "multi-objective study, the K most accurate members of its Pareto front "
                   "(default: all of them)")
    p.add_argument("--format", choices=FORMATS, default="json", help="file format")
    p.add_argument("--out", metavar="DIR", help="directory (default: configs/ in the folder "
                   "the study's latest run wrote to, runs/STUDY/ unless it had --out)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_of("hpo.export", build_parser(), _export, argv)


def _export(args: argparse.Namespace) -> int:
    study = load_existing_study(check_url(args.storage), args.study)
    from hpo._cli import import_tensorflow_quietly

    import_tensorflow_quietly(args.debug)
    configs = top_configs(study, args.top, with_keras=True)
    if not configs:
        raise HpoError(f"study '{args.study}' has no complete trial to export yet")
    from hpo.record import out_dir as run_dir

    out_dir = Path(args.out) if args.out else run_dir(study) / "configs"
    multi = pareto.is_multi_objective(study)
    if multi:
        print(f"the Pareto front of study '{args.study}' (validation accuracy vs parameters), "
              f"most accurate first; recommended: {pareto.RULE}")
    for path, config in zip(write_configs(configs, out_dir, args.format), configs):
        print(f"{path}  trial {config['trial']}  {config['metric']} {config['value']:.4g}  "
              f"{config['n_params']} parameters"
              + ("  (recommended)" if config.get("recommended") else ""))
    if args.top and len(configs) < args.top:
        what = "members on its Pareto front" if multi else "complete trials"
        print(f"(the study has only {len(configs)} {what})")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())


def load_model(path: str | Path) -> Any:
    """The final model a study saved (``runs/<study>/model.keras``), its preprocessing
    included: it takes the data as the study read it (a CSV's raw columns as a dict, images
    as loaded, a pipeline's elements). Keras alone loads it too (``keras.saving.load_model``);
    this checks the path first."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise HpoError(f"no saved model at {path}; a study writes runs/<study>/model.keras "
                       f"after its final step")
    return keras.saving.load_model(path)
