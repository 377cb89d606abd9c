"""One study from its setup to its result: the chain that the CLI and ``hpo.tune`` both run.

    open → enqueue → search → (clean up after Ctrl-C) → final → results → report

``Pipeline(setup, ...).run()`` runs that chain once; the steps are its methods, each small.
The CLI (``hpo.run``) and ``hpo.tune`` only collect their inputs into a ``RunSetup`` and show
the ``Outcome``; ``--workers`` processes run the search step (``hpo.search.run_trials``).
What the steps have to say goes to ``say``: ``print`` for the CLI, the ``hpo`` logger for
``hpo.tune``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from hpo import dashboard, pareto, record
from hpo.errors import HpoError
from hpo.search import OpenRun, RunSetup, enqueue_first, open_run, process_tag
from hpo.storage import FINISHED, count_finished, mask

if TYPE_CHECKING:
    import keras

    from hpo.data import Arrays
    from hpo.streams import Pipelines

logger = logging.getLogger("hpo")


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during the search, after the running trials were recorded."""


@dataclass
class Outcome:
    """What one run of the pipeline left: the opened run (spec, data, study) and, when the
    final step ran, the retrained model and what best.json holds."""

    run: OpenRun
    model: keras.Model | None = None
    final: dict[str, Any] | None = None

    @property
    def study(self) -> optuna.Study:
        return self.run.study


class Pipeline:
    """Open the study, queue its known starts, search, retrain the best and test it once, then
    write the results table and the report.

    ``arrays``: ``(x, y, x_test, y_test)`` from Python (``hpo.tune``), else the study's data
    set is loaded. ``workers``: processes sharing the search. ``final``: False skips the
    final retrain and test. ``progress``: a line per finished trial (a bar in a terminal).
    Ctrl-C during the search records the running trials as interrupted and raises
    ``SearchInterrupted`` (a KeyboardInterrupt).
    """

    def __init__(self, setup: RunSetup, *, arrays: Arrays | Pipelines | None = None,
                 workers: int = 1,
                 final: bool = True, progress: bool = True,
                 say: Callable[[str], None] | None = None) -> None:
        self.setup = setup
        self.arrays = arrays
        self.workers = workers
        self.final_wanted = final
        self.progress = progress
        self.say = say or logger.info

    def run(self) -> Outcome:
        run = self.open()
        self.enqueue(run)
        self.search(run)
        outcome = Outcome(run)
        self.summarize(run.study)
        if self.final_wanted and not run.spec.then and self._has_complete(run):
            outcome.model, outcome.final = self.final(run)
        self.write(outcome)
        return outcome

    # -- the steps ------------------------------------------------------------------------------

    def open(self) -> OpenRun:
        """Data loaded once, the builder checked, the study created or resumed."""
        run = open_run(self.setup, arrays=self.arrays,
                       need_test=self.final_wanted and not self.setup.spec.then)
        self._announce(run)
        return run

    def enqueue(self, run: OpenRun) -> int:
        """Queue again the trials that did not finish (``hpo.recovery``), then what a new
        study tries first (a warm start's best, the study file's starts)."""
        from hpo.recovery import recover

        for line in recover(run.storage, run.study):
            self.say(line)
        spec = run.spec
        queued = enqueue_first(spec, run.study, run.warm)
        if queued:
            source = (f"the best of study {spec.warm_start} ({len(run.warm)} of its trials "
                      f"inform the sampler) and the study file" if run.warm else
                      f"{spec.family}'s textbook start(s)" if spec.textbook else
                      "the study file")
            self.say(f"trying {queued} known configuration(s) first, from {source}")
        return queued

    def search(self, run: OpenRun) -> None:
        """Run trials until the study holds the requested number of finished ones."""
        spec, study = run.spec, run.study
        done = count_finished(study)
        remaining = spec.budget.trials - done
        if remaining <= 0:
            self.say(f"the study already holds {done} finished trials (asked for "
                     f"{spec.budget.trials}); nothing to search")
            return
        workers = min(self.workers, remaining)
        self.say(f"running {remaining} trials ({done} already stored) on {workers} worker"
                 f"{'s' if workers > 1 else ''}, up to {spec.budget.max_epochs} epochs "
                 f"{'per fold' if spec.data.cv_folds else 'each'}, "
                 f"sampler {spec.sampler.name}, pruner {spec.pruner.name}")
        started = datetime.datetime.now()
        try:
            self._search(run, remaining, workers, done)
        except KeyboardInterrupt as e:
            self.clean_up(run, started)
            raise SearchInterrupted(*e.args) from None

    def clean_up(self, run: OpenRun, started: datetime.datetime) -> None:
        """After Ctrl-C: this run's trials left RUNNING are recorded as interrupted."""
        from hpo.storage import fail_orphans

        fail_orphans(run.storage, run.study, {process_tag()}, started)
        self.summarize(run.study, best=not run.spec.multi_objective)

    def final(self, run: OpenRun) -> tuple[keras.Model, dict[str, Any]]:
        """Retrain the best trial (and ``others``) on train + validation, test once."""
        from hpo.final import retrain_and_test_model, write_front

        spec, study, out_dir = run.spec, run.study, run.setup.out_dir
        others: list[optuna.trial.FrozenTrial] = []
        if spec.final == "each":
            others = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            self.say(f"final step: retraining and testing each of the {len(others)} completed "
                     f"trials (the best is still the one chosen on validation)")
        elif spec.multi_objective:
            others = pareto.front(study)
            self.say(f"final step: retraining and testing the {len(others)} members of the "
                     f"Pareto front; recommended on validation: {pareto.RULE}")
        model, result = retrain_and_test_model(spec, study, run.data, out_dir, others=others,
                                               builder=run.builder,
                                               store=run.setup.checkpoints())
        self.say(test_line(result, spec.multi_objective))
        self.say(f"wrote {out_dir / 'best.json'} and {out_dir / 'model.keras'}")
        if spec.multi_objective:
            self.say(f"wrote {write_front(study, result, out_dir)}")
        return model, result

    def write(self, outcome: Outcome) -> None:
        """The results table (shown) and the report; a study with nothing complete is an
        error once the report says why, trial by trial."""
        run = outcome.run
        self._write_results(run, outcome.final)
        self._write_report(run, outcome.final)
        if outcome.final is not None:
            return
        if run.spec.then:
            self.say(f"the final retrain and test come after study {run.spec.then}")
        elif not self.final_wanted:
            self.say("skipped the final retrain and test, as asked")
        else:
            raise HpoError(f"no trial of study '{run.setup.study_name}' completed, so there is "
                           f"nothing to retrain; see the failures above (or rerun with --debug)")

    # -- what the steps say ------------------------------------------------------------------

    def summarize(self, study: optuna.Study, best: bool = False) -> None:
        states = [t.state for t in study.get_trials(deepcopy=False)]
        counts = ", ".join(f"{states.count(s)} {s.name.lower()}" for s in FINISHED)
        self.say(f"study {study.study_name}: {len(states)} trials ({counts})")
        if best:
            self._best(study)

    def _announce(self, run: OpenRun) -> None:
        setup, spec, search = run.setup, run.spec, run.data.search
        n_train, n_val = len(search.y_train), len(search.y_val)
        splits = (f"{n_train + n_val} in {spec.data.cv_folds} cross-validation folds"
                  if spec.data.cv_folds else f"{n_train} train / {n_val} validation")
        test = f"{len(run.data.test)} test" if len(run.data.test) else "a test pipeline"
        self.say(f"study {setup.study_name}: {spec.family} on {run.data.name}, {search.task} "
                 f"({splits} / {test}, sealed), scored on {spec.metric} "
                 f"({spec.direction}), storage {mask(setup.url)}")
        self.say(f"watch it live: {dashboard.command(setup.study_name, setup.url)}  (or: "
                 f"optuna-dashboard {mask(setup.url)})")
        if spec.multi_objective:
            goals = ", ".join(f"{d} {spec.metric if o in ('metric', 'accuracy') else o}"
                              for o, d in zip(spec.objectives, spec.directions))
            self.say(f"objectives: {goals}; the result is a Pareto front (no pruning: Optuna "
                     f"cannot prune multi-objective trials)")
        if spec.inherited:
            self.say(f"follows {spec.follows}: keeps its best trial's "
                     + " ".join(f"{k}={_fmt(v)}" for k, v in spec.inherited.items()))

    def _search(self, run: OpenRun, remaining: int, workers: int, done: int) -> None:
        from hpo.progress import trial_progress
        from hpo.search import run_trials

        spec = run.spec
        with trial_progress(spec.budget.trials, done) as progress:
            callbacks = [progress] if self.progress else []
            if workers > 1:
                from hpo.workers import Supervisor

                Supervisor(run.setup, run.study, run.storage, spec.budget.trials, workers,
                           progress if self.progress else _nothing).run()
            else:
                run_trials(spec, run.study, run.data.search, remaining, callbacks=callbacks,
                           builder=run.builder, warm=run.warm, store=run.setup.checkpoints())

    def _write_results(self, run: OpenRun, final: dict[str, Any] | None) -> None:
        from hpo.results import (
            compact_table,
            results_rows,
            summary_row,
            tested,
            varied_params,
            write_results,
        )

        spec, study = run.spec, run.study
        tests = {n: r["test_score"] for n, r in tested(final).items()} if final else None
        rows = results_rows(spec, study, tests)
        if not rows:
            return
        # Repeats of one configuration: how far apart are they? (Across settings: meaningless.)
        summary = None if varied_params(spec, study) else summary_row(rows)
        paths = write_results(rows, run.setup.out_dir, summary)
        title = (f"the best trials, {spec.metric} on validation"
                 + (f" and test {spec.metric.removeprefix('val_')} where tested" if tests else ""))
        table = compact_table(rows, summary, maximize=spec.direction == "maximize",
                              n_val=record.n_validation(study),
                              n_test=(study.user_attrs.get(record.FINAL) or {}).get("n_test"))
        self.say(f"\n{title}:\n{table}\nwrote {paths[0]} and {paths[1]} (every trial, every "
                 f"column)")
        if spec.multi_objective:
            self._front(rows, "the Pareto front, each member retrained and tested once"
                        if tests else "the Pareto front on validation")
        else:
            self._best(study)

    def _write_report(self, run: OpenRun, final: dict[str, Any] | None) -> None:
        from hpo.report import write_report

        html, *images = write_report(run.study, run.setup.out_dir, final)
        also = f", and {', '.join(p.name for p in images)} beside it" if images else ""
        self.say(f"wrote {html} (open it in a browser){also}")

    def _best(self, study: optuna.Study) -> None:
        """The best configuration, one parameter a line (as KerasTuner's results_summary)."""
        from hpo.progress import score

        best = pareto.best_trial(study)
        if best is None:
            return
        width = max(map(len, best.params), default=0) + 2
        self.say("\n".join([
            f"best: trial {best.number}, {record.study_metric(study)} "
            f"{score(pareto.accuracy(best), record.n_validation(study))}, "
            f"{best.user_attrs.get(record.N_PARAMS, '?')} parameters",
            *(f"  {name:{width}}{_fmt(value)}" for name, value in best.params.items())]))

    def _front(self, rows: list[dict], title: str) -> None:
        from hpo.results import RECOMMENDED, front_rows, markdown_table

        front = front_rows(rows)
        if front:
            chosen = next(r["trial"] for r in front if r["front"] == RECOMMENDED)
            self.say(f"\n{title}, smallest first:\n{markdown_table(front)}\nrecommended: trial "
                     f"{chosen}, {pareto.RULE}")

    @staticmethod
    def _has_complete(run: OpenRun) -> bool:
        return bool(run.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def test_line(result: dict, recommended: bool = False) -> str:
    """The final step's result in one line: the metric on test (and accuracy), and how."""
    metric = result["metric"].removeprefix("val_")
    if "test_mean" in result:  # the spread says more than the first seed's other scores
        low, high = result["test_ci95"]
        score = (f"held-out test {metric}: {result['test_mean']:.4g} ± {result['test_sd']:.2g} "
                 f"over {len(result['seeds'])} seeds (95% interval {low:.4g} to {high:.4g})")
    else:
        score = f"held-out test {metric}: {result['test_score']:.4g}"
        if "test_accuracy" in result and metric != "accuracy":
            score += f" (accuracy {result['test_accuracy']:.4f})"
        elif "test_loss" in result and metric != "loss":
            score += f" (loss {result['test_loss']:.4f})"
    which = " (recommended)" if recommended else ""
    return (f"{score}: trial {result['trial']}{which} retrained on {result['n_train']} "
            f"examples for {result['epochs']} epochs, each model tested once on "
            f"{result['n_test']}")


def _nothing(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A trial callback that shows nothing (``progress=False``)."""


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

