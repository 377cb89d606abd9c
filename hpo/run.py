"""``python -m hpo.run --study mlp``: search, store, retrain the winner, test it once.

Everything a user can get wrong (study file, flags, data, storage URL) is checked before the
first trial trains or anything is written to the storage; TensorFlow is imported only then.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import optuna

from hpo import dashboard, pareto
from hpo._cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    configure_logging,
    positive_float,
    positive_int,
    run_cli,
)
from hpo.errors import HpoError
from hpo.progress import trial_progress
from hpo.samplers import PRUNERS, SAMPLERS
from hpo.spec import StudySpec, available_studies, load_spec
from hpo.storage import (
    DEFAULT_STORAGE,
    SURPLUS,
    check_url,
    count_claimed,
    count_finished,
    dashboard_command,
    mask,
)

if TYPE_CHECKING:  # imported at run time only once the inputs are checked: it loads Keras
    from hpo.data import Dataset, SearchData

logger = logging.getLogger("hpo")

FINISHED = ("COMPLETE", "PRUNED", "FAIL")


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


@dataclass(frozen=True)
class RunSetup:
    """What one run resolved from its flags and study file, all checked, nothing loaded."""

    spec: StudySpec
    study_name: str
    url: str
    out_dir: Path


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
    return RunSetup(spec, study_name, url, out_dir)


def open_run(args: argparse.Namespace) -> tuple[RunSetup, Dataset, optuna.Study]:
    """Resolve the flags, load the data once, then create or resume the study."""
    from hpo.data import load_dataset
    from hpo.space import signature
    from hpo.storage import open_study

    setup = resolve(args)
    if setup.spec.follows:
        setup = _inherit(setup)
    spec = setup.spec
    data = load_dataset(spec.data, args.data_dir, seed=spec.seed)
    identity = {"family": spec.family, "dataset": data.name,
                "input_shape": list(data.search.input_shape),
                "n_classes": data.search.n_classes, "space": signature(spec.space)}
    if spec.inherited:
        identity["inherited"] = dict(spec.inherited)
    identity["objectives"] = list(spec.objectives)
    labels = [pareto.LABELS[name] for name in spec.objectives]
    study = open_study(setup.url, setup.study_name, spec.directions, identity,
                       metric_names=labels if spec.multi_objective else None)
    return setup, data, study


def _inherit(setup: RunSetup) -> RunSetup:
    """Pin what ``follows`` names: the best parameters of that study, in the same storage."""
    from hpo.errors import StorageError
    from hpo.space import inherit
    from hpo.storage import load_existing_study

    spec = setup.spec
    suffix = setup.study_name[len(spec.name):]  # "-digits" when --dataset changed the data
    leader = f"{spec.follows}{suffix}"
    how = (f"run `python -m hpo.run --study {spec.follows}` first (with the same --storage "
           f"and --dataset)")
    try:
        study = load_existing_study(setup.url, leader)
    except StorageError:
        raise HpoError(f"study '{setup.study_name}' follows study '{leader}', which "
                       f"{mask(setup.url)} does not hold; {how}") from None
    best = pareto.best_trial(study)  # a multi-objective leader's recommended member
    if best is None:
        raise HpoError(f"study '{setup.study_name}' follows study '{leader}', which has no "
                       f"completed trial yet; {how}")
    inherited = MappingProxyType(inherit(best.params, spec.space))
    return dataclasses.replace(setup, spec=dataclasses.replace(spec, inherited=inherited))


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies()
    setup, data, study = open_run(args)
    spec, search = setup.spec, data.search
    n_train, n_val = len(search.y_train), len(search.y_val)
    splits = (f"{n_train + n_val} in {spec.data.cv_folds} cross-validation folds"
              if spec.data.cv_folds else f"{n_train} train / {n_val} validation")
    print(f"study {setup.study_name}: {spec.family} on {data.name} ({splits} / "
          f"{len(data.test)} test, sealed), storage {mask(setup.url)}", flush=True)
    print(f"watch it live: {dashboard.command(setup.study_name, setup.url)}  (or: "
          f"{dashboard_command(setup.url)})", flush=True)

    if spec.multi_objective:
        goals = ", ".join(f"{d} {pareto.LABELS[o]}"
                          for o, d in zip(spec.objectives, spec.directions))
        print(f"objectives: {goals}; the result is a Pareto front (no pruning: Optuna cannot "
              f"prune multi-objective trials)", flush=True)
    if spec.inherited:
        print(f"follows {spec.follows}: keeps its best trial's "
              + " ".join(f"{k}={_fmt(v)}" for k, v in spec.inherited.items()), flush=True)
    done = count_finished(study)
    if spec.enqueue and not study.trials:
        for params in spec.enqueue:  # tried first: known-good configurations from the file
            study.enqueue_trial(dict(params), skip_if_exists=True)
        print(f"enqueued {len(spec.enqueue)} configuration(s) from the study file to try "
              f"first", flush=True)
    remaining = spec.budget.trials - done
    if remaining <= 0:
        print(f"the study already holds {done} finished trials (asked for "
              f"{spec.budget.trials}); nothing to search", flush=True)
    else:
        workers = min(args.workers, remaining)
        print(f"running {remaining} trials ({done} already stored) on {workers} worker"
              f"{'s' if workers > 1 else ''}, up to {spec.budget.max_epochs} epochs "
              f"{'per fold' if spec.data.cv_folds else 'each'}, "
              f"sampler {spec.sampler.name}, pruner {spec.pruner.name}", flush=True)
        started = datetime.datetime.now()
        try:
            with trial_progress(spec.budget.trials, done) as progress:
                if workers > 1:
                    from hpo.workers import Supervisor

                    Supervisor(args, study, spec.budget.trials, workers, progress).run()
                else:
                    run_trials(spec, study, search, remaining, callbacks=[progress])
        except KeyboardInterrupt:
            from hpo.storage import fail_orphans

            fail_orphans(study, {process_tag()}, started)
            _print_summary(spec, study)
            print("interrupted: every finished trial is stored and the running ones are "
                  "recorded as failed; the final step was skipped. Rerun the same command "
                  "to resume.", file=sys.stderr)
            return EXIT_INTERRUPTED

    _print_summary(spec, study)
    _write_results(spec, study, setup.out_dir, None)
    if args.no_final or spec.then:
        print("--no-final: skipped the final retrain and test" if args.no_final else
              f"the final retrain and test come after study {spec.then}")
        _write_report(study, setup.out_dir, None)
        return _run_next(args, spec)
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        _write_report(study, setup.out_dir, None)  # what went wrong, trial by trial
        raise HpoError(f"no trial of study '{setup.study_name}' completed, so there is "
                       f"nothing to retrain; see the failures above (or rerun with --debug)")

    from hpo.final import retrain_and_test, write_front
    from hpo.results import tested

    others = []
    if spec.final == "each":
        others = [t for t in study.trials if t.state.name == "COMPLETE"]
        print(f"final step: retraining and testing each of the {len(others)} completed "
              f"trials (the best is still the one chosen on validation)", flush=True)
    elif spec.multi_objective:
        others = pareto.front(study)
        print(f"final step: retraining and testing the {len(others)} members of the Pareto "
              f"front; recommended on validation: {pareto.RULE}", flush=True)
    result = retrain_and_test(spec, study, data, setup.out_dir, others=others)
    out_dir = setup.out_dir
    which = " (recommended)" if spec.multi_objective else ""
    print(f"held-out test accuracy: {result['test_accuracy']:.4f} (loss "
          f"{result['test_loss']:.4f}): trial {result['trial']}{which} retrained on "
          f"{result['n_train']} examples for {result['epochs']} epochs, tested once on "
          f"{result['n_test']}")
    print(f"wrote {out_dir / 'best.json'} and {out_dir / 'model.keras'}")
    if spec.multi_objective:
        print(f"wrote {write_front(study, result, out_dir)}")
    tests = {n: r["test_accuracy"] for n, r in tested(result).items()}
    _write_results(spec, study, out_dir, tests)
    _write_report(study, out_dir, result)
    return EXIT_OK


def _run_next(args: argparse.Namespace, spec: StudySpec) -> int:
    if not spec.then:
        return EXIT_OK
    print(f"\nnext: study {spec.then} (named by {spec.name}'s `then`)", flush=True)
    follow_up = argparse.Namespace(**{**vars(args), "study": spec.then, "out": None,
                                      "trials": None})
    return _run(follow_up)


def _write_results(spec: StudySpec, study: optuna.Study, out_dir: Path,
                   tests: dict[int, float] | None) -> None:
    from hpo.results import printable, results_rows, summary_row, varied_params, write_results

    rows = results_rows(spec, study, tests)
    if not rows:
        return
    # Repeats of one configuration: how far apart are they? (Across settings it means nothing.)
    summary = None if varied_params(spec, study) else summary_row(rows)
    paths = write_results(rows, out_dir, summary)
    title = "results with held-out test accuracy" if tests else "results (validation)"
    print(f"\n{title}:\n{printable(rows, summary)}\nwrote {paths[0]} and {paths[1]}",
          flush=True)
    if tests and spec.multi_objective:
        _print_front(rows, "the Pareto front, each member retrained and tested once")


def _write_report(study: optuna.Study, out_dir: Path, final: dict | None) -> None:
    from hpo.report import write_report

    html, *images = write_report(study, out_dir, final)
    also = f", and {', '.join(p.name for p in images)} beside it" if images else ""
    print(f"wrote {html} (open it in a browser){also}")


def run_trials(
    spec: StudySpec,
    study: optuna.Study,
    search: SearchData,
    n_trials: int,
    worker: int = 0,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
) -> None:
    """Run ``n_trials`` trials of ``spec`` in this process (one worker's share)."""
    from hpo.objective import failed, make_objective
    from hpo.samplers import make_pruner, make_sampler
    from hpo.space import grid_space

    # Each worker, and each resumed run, gets its own sampler seed: no replayed draws.
    study.sampler = make_sampler(
        spec.sampler.name, spec.sampler.options,
        seed=spec.seed + 1000 * worker + len(study.trials),
        grid=grid_space(spec.space) if spec.sampler.name == "grid" else None,
    )
    # The pruner's steps are epochs, or folds when a trial cross-validates.
    steps = spec.data.cv_folds or spec.budget.max_epochs
    study.pruner = make_pruner(spec.pruner.name, spec.pruner.options, steps)
    objective = make_objective(spec, search)
    target = spec.budget.trials

    def gated(trial: optuna.Trial) -> float | tuple[float, ...]:
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("process", process_tag())
        if count_claimed(trial.study, below=trial.number) >= target:
            # Other workers (here or on other machines) filled the study first.
            trial.set_user_attr("fail_reason", SURPLUS)
            trial.study.stop()
            return failed(spec)
        return objective(trial)

    def stop_when_full(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if count_claimed(study) >= target:
            study.stop()

    # What is alive now (TensorFlow, Keras, the data) lives as long as the run: set aside from
    # the cyclic garbage collector, a full collection between trials scans only what trials
    # made, ~15 ms instead of ~200 ms here (bench/overhead.py).
    gc.collect()
    gc.freeze()
    try:
        study.optimize(
            gated,
            n_trials=n_trials,
            timeout=spec.budget.timeout,
            # A bad trial (diverged, out of memory, an impossible config) fails alone.
            catch=(Exception,),
            callbacks=[*callbacks, stop_when_full],
        )
    finally:
        gc.unfreeze()


def process_tag(pid: int | None = None) -> str:
    """Which machine and process runs a trial: "host:pid" (shown in the dashboard)."""
    import socket

    return f"{socket.gethostname()}:{pid or os.getpid()}"


def _print_summary(spec: StudySpec, study: optuna.Study) -> None:
    states = [t.state.name for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in FINISHED)
    print(f"study {study.study_name}: {len(states)} trials ({counts})")
    if spec.multi_objective:
        from hpo.results import results_rows

        _print_front(results_rows(spec, study), "the Pareto front on validation (no other "
                     "trial is both more accurate and smaller)")
        return
    best = pareto.best_trial(study)
    if best is None:
        return
    params = " ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    print(f"best: trial {best.number}, validation accuracy {pareto.accuracy(best):.4f}, "
          f"{best.user_attrs.get('n_params', '?')} parameters\n  {params}")


def _print_front(rows: list[dict], title: str) -> None:
    from hpo.results import RECOMMENDED, front_rows, markdown_table

    front = front_rows(rows)
    if not front:
        return
    chosen = next(r["trial"] for r in front if r["front"] == RECOMMENDED)
    print(f"\n{title}, smallest first:\n{markdown_table(front)}\nrecommended: trial {chosen}, "
          f"{pareto.RULE}", flush=True)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
