"""``python -m hpo.run --study mlp``: search, store, retrain the winner, test it once.

Everything a user can get wrong (study file, flags, data, storage URL) is checked before the
first trial trains or anything is written to the storage; TensorFlow is imported only then.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from hpo._cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    configure_logging,
    import_tensorflow_quietly,
    positive_float,
    positive_int,
    run_cli,
)
from hpo.errors import HpoError
from hpo.pipeline import Pipeline, SearchInterrupted
from hpo.samplers import PRUNERS, SAMPLERS
from hpo.search import RunSetup
from hpo.spec import StudySpec, available_studies, load_spec
from hpo.storage import DEFAULT_STORAGE, check_url

logger = logging.getLogger("hpo")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="hpo",
        description="Search a Keras model's hyperparameters with Optuna, store every trial, "
        "retrain the best configuration on train + validation and test it once on a held-out "
        "test split.",
    )
    p.add_argument("--study", metavar="NAME",
                   help="study to run: a name from studies/ (see --list) or a .toml path")
    p.add_argument("--list", action="store_true", help="list the available studies and exit")
    p.add_argument("--trials", type=positive_int, metavar="N",
                   help="run until the study holds N finished trials (default: the study file's)")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="maximum epochs per trial (default: the study file's max_epochs)")
    p.add_argument("--timeout", type=positive_float, metavar="S",
                   help="stop starting new trials after S seconds of search")
    p.add_argument("--storage", metavar="URL",
                   help=f"Optuna storage URL (default: {DEFAULT_STORAGE}); any SQLAlchemy URL, "
                   "e.g. postgresql://user:pass@host/db, to share a study between workers")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding mnist.npz in Keras's layout (default: $HPO_DATA_DIR, "
                   "else Keras downloads it)")
    p.add_argument("--dataset", choices=("mnist", "digits"),
                   help="data set instead of the study file's; digits (scikit-learn's 8x8) "
                   "works offline; the study is stored as NAME-DATASET")
    p.add_argument("--sampler", choices=tuple(SAMPLERS), help="Optuna sampler (default: the "
                   "study file's)")
    p.add_argument("--pruner", choices=tuple(PRUNERS), help="Optuna pruner (default: the "
                   "study file's)")
    p.add_argument("--seed", type=int, help="seed for the split, the sampler and each trial")
    p.add_argument("--out", metavar="DIR",
                   help="where best.json and model.keras go (default: runs/STUDY/)")
    p.add_argument("--artifacts", metavar="DIR",
                   help="where running trials keep their per-epoch checkpoints (default: beside "
                        "a SQLite file, else the --out folder); for PostgreSQL on many "
                        "machines, a folder they all reach")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="worker processes sharing the study, the CPU cores split between them "
                   "(default: 1); start the same command on other machines with a shared "
                   "--storage to scale out")
    p.add_argument("--no-final", action="store_true",
                   help="skip the final retrain and test")
    p.add_argument("--debug", action="store_true",
                   help="show tracebacks and Optuna's own log lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.list and not args.study:
        parser.error("--study NAME is required (or --list to see the studies)")
    configure_logging(args.debug)
    # `kill PID` stops as cleanly as Ctrl-C: running trials are recorded, not left RUNNING.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return run_cli("hpo", lambda: _run(args), args.debug)


def resolve(args: argparse.Namespace) -> RunSetup:
    """Flags over the study file over defaults; raises HpoError before anything is written."""
    base = load_spec(args.study)
    spec = base.override(
        trials=args.trials, max_epochs=args.epochs, timeout=args.timeout, seed=args.seed,
        dataset=args.dataset, sampler=args.sampler, pruner=args.pruner,
    )
    # Trials on another data set are another study: never mix them into the file's one.
    same_data = spec.data.dataset == base.data.dataset
    study_name = spec.name if same_data else f"{spec.name}-{spec.data.dataset}"
    url = check_url(args.storage or DEFAULT_STORAGE)
    out_dir = Path(args.out) if args.out else Path("runs") / study_name
    return RunSetup(spec, study_name, url, out_dir, args.data_dir, args.debug,
                    Path(args.artifacts) if args.artifacts else None)


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies()
    setup = resolve(args)
    import_tensorflow_quietly(args.debug)
    pipeline = Pipeline(setup, workers=args.workers, final=not args.no_final,
                        say=lambda line: print(line, flush=True))
    try:
        outcome = pipeline.run()
    except SearchInterrupted:
        print("interrupted: every finished trial is stored and the running ones are "
              "recorded as failed; the final step was skipped. Rerun the same command "
              "to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _run_next(args, outcome.run.spec)


def _run_next(args: argparse.Namespace, spec: StudySpec) -> int:
    if not spec.then:
        return EXIT_OK
    print(f"\nnext: study {spec.then} (named by {spec.name}'s `then`)", flush=True)
    follow_up = argparse.Namespace(**{**vars(args), "study": spec.then, "out": None,
                                      "trials": None})
    return _run(follow_up)


def _list_studies() -> int:
    studies = available_studies()
    if not studies:
        print("no studies found (looked in $HPO_STUDIES_DIR and ./studies)")
    width = max(map(len, studies), default=0) + 2
    for name, path in studies.items():
        try:
            description = load_spec(str(path)).description
        except HpoError as e:
            description = f"(invalid: {e})"
        print(f"{name:{width}}{description}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
