"""``python -m hpo.run --study mlp``: search, store, retrain the winner, test it once.

Everything a user can get wrong (study file, flags, data, storage URL) is checked before the
first trial trains or anything is written to the storage; TensorFlow is imported only then.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna

from hpo import dashboard, pareto, record
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
from hpo.progress import trial_progress
from hpo.samplers import PRUNERS, SAMPLERS
from hpo.search import RunSetup, enqueue_first, open_run, process_tag, run_trials
from hpo.spec import StudySpec, available_studies, load_spec
from hpo.storage import DEFAULT_STORAGE, check_url, count_finished, dashboard_command, mask

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
    return RunSetup(spec, study_name, url, out_dir, args.data_dir, args.debug)


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies()
    setup = resolve(args)
    import_tensorflow_quietly(args.debug)
    run = open_run(setup)
    setup, data, study = run.setup, run.data, run.study
    spec, search = setup.spec, data.search
    n_train, n_val = len(search.y_train), len(search.y_val)
    splits = (f"{n_train + n_val} in {spec.data.cv_folds} cross-validation folds"
              if spec.data.cv_folds else f"{n_train} train / {n_val} validation")
    print(f"study {setup.study_name}: {spec.family} on {data.name}, {search.task} ({splits} / "
          f"{len(data.test)} test, sealed), scored on {spec.metric} ({spec.direction}), "
          f"storage {mask(setup.url)}", flush=True)
    print(f"watch it live: {dashboard.command(setup.study_name, setup.url)}  (or: "
          f"{dashboard_command(setup.url)})", flush=True)

    if spec.multi_objective:
        goals = ", ".join(f"{d} {spec.metric if o in ('metric', 'accuracy') else o}"
                          for o, d in zip(spec.objectives, spec.directions))
        print(f"objectives: {goals}; the result is a Pareto front (no pruning: Optuna cannot "
              f"prune multi-objective trials)", flush=True)
    if spec.inherited:
        print(f"follows {spec.follows}: keeps its best trial's "
              + " ".join(f"{k}={_fmt(v)}" for k, v in spec.inherited.items()), flush=True)
    done = count_finished(study)
    queued = enqueue_first(spec, study, run.warm)
    if queued:
        source = (f"the best of study {spec.warm_start} ({len(run.warm)} of its trials inform "
                  f"the sampler) and the study file" if run.warm else
                  f"{spec.family}'s textbook start(s)" if spec.textbook else "the study file")
        print(f"trying {queued} known configuration(s) first, from {source}", flush=True)
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

                    Supervisor(setup, study, run.storage, spec.budget.trials, workers,
                               progress).run()
                else:
                    run_trials(spec, study, search, remaining, callbacks=[progress],
                               builder=run.builder, warm=run.warm)
        except KeyboardInterrupt:
            from hpo.storage import fail_orphans

            fail_orphans(run.storage, study, {process_tag()}, started)
            _print_summary(spec, study)
            print("interrupted: every finished trial is stored and the running ones are "
                  "recorded as failed; the final step was skipped. Rerun the same command "
                  "to resume.", file=sys.stderr)
            return EXIT_INTERRUPTED

    _print_summary(spec, study, best=False)
    no_final = args.no_final or spec.then or not any(t.state.name == "COMPLETE"
                                                     for t in study.trials)
    # The table is printed once: here when no final step follows, else with the test scores.
    _write_results(spec, study, setup.out_dir, None, show=bool(no_final))
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
    result = retrain_and_test(spec, study, data, setup.out_dir, others=others,
                              builder=run.builder)
    out_dir = setup.out_dir
    print(test_line(result, spec.multi_objective))
    print(f"wrote {out_dir / 'best.json'} and {out_dir / 'model.keras'}")
    if spec.multi_objective:
        print(f"wrote {write_front(study, result, out_dir)}")
    tests = {n: r["test_score"] for n, r in tested(result).items()}
    _write_results(spec, study, out_dir, tests)
    _write_report(study, out_dir, result)
    return EXIT_OK


def test_line(result: dict, recommended: bool = False) -> str:
    """The final step's result in one line: the metric on test (and accuracy), and how."""
    metric = result["metric"].removeprefix("val_")
    score = f"held-out test {metric}: {result['test_score']:.4g}"
    if "test_mean" in result:
        low, high = result["test_ci95"]
        score = (f"held-out test {metric}: {result['test_mean']:.4g} ± {result['test_sd']:.2g} "
                 f"over {len(result['seeds'])} seeds (95% interval {low:.4g} to {high:.4g})")
    if "test_mean" in result:
        pass  # the spread says more than the first seed's other scores
    elif "test_accuracy" in result and metric != "accuracy":
        score += f" (accuracy {result['test_accuracy']:.4f})"
    elif "test_loss" in result and metric != "loss":
        score += f" (loss {result['test_loss']:.4f})"
    which = " (recommended)" if recommended else ""
    return (f"{score}: trial {result['trial']}{which} retrained on {result['n_train']} "
            f"examples for {result['epochs']} epochs, each model tested once on "
            f"{result['n_test']}")


def _run_next(args: argparse.Namespace, spec: StudySpec) -> int:
    if not spec.then:
        return EXIT_OK
    print(f"\nnext: study {spec.then} (named by {spec.name}'s `then`)", flush=True)
    follow_up = argparse.Namespace(**{**vars(args), "study": spec.then, "out": None,
                                      "trials": None})
    return _run(follow_up)


def _write_results(spec: StudySpec, study: optuna.Study, out_dir: Path,
                   tests: dict[int, float] | None, show: bool = True) -> None:
    from hpo.results import compact_table, results_rows, summary_row, varied_params, write_results

    rows = results_rows(spec, study, tests)
    if not rows:
        return
    # Repeats of one configuration: how far apart are they? (Across settings it means nothing.)
    summary = None if varied_params(spec, study) else summary_row(rows)
    paths = write_results(rows, out_dir, summary)
    if not show:
        return
    title = (f"the best trials, {spec.metric} on validation"
             + (f" and test {spec.metric.removeprefix('val_')} where tested" if tests else ""))
    table = compact_table(rows, summary, maximize=spec.direction == "maximize",
                          n_val=record.n_validation(study),
                          n_test=(study.user_attrs.get(record.FINAL) or {}).get("n_test"))
    print(f"\n{title}:\n{table}\nwrote {paths[0]} and {paths[1]} (every trial, every column)",
          flush=True)
    if spec.multi_objective:
        _print_front(rows, "the Pareto front, each member retrained and tested once" if tests
                     else "the Pareto front on validation")
    else:
        _print_best(spec, study)


def _write_report(study: optuna.Study, out_dir: Path, final: dict | None) -> None:
    from hpo.report import write_report

    html, *images = write_report(study, out_dir, final)
    also = f", and {', '.join(p.name for p in images)} beside it" if images else ""
    print(f"wrote {html} (open it in a browser){also}")


def _print_summary(spec: StudySpec, study: optuna.Study, best: bool = True) -> None:
    states = [t.state.name for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in FINISHED)
    print(f"study {study.study_name}: {len(states)} trials ({counts})")
    if best and not spec.multi_objective:
        _print_best(spec, study)


def _print_best(spec: StudySpec, study: optuna.Study) -> None:
    """The best configuration, one parameter a line (as KerasTuner's results_summary)."""
    best = pareto.best_trial(study)
    if best is None:
        return
    from hpo.progress import score

    print(f"best: trial {best.number}, {spec.metric} "
          f"{score(pareto.accuracy(best), record.n_validation(study))}, "
          f"{best.user_attrs.get(record.N_PARAMS, '?')} parameters")
    width = max(map(len, best.params), default=0) + 2
    for name, value in best.params.items():
        print(f"  {name:{width}}{_fmt(value)}")


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
