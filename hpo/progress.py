"""Progress of a search as the CLI shows it: a line per finished trial, and a bar in a terminal.

The line is a log record (``hpo.progress``), so it goes wherever the CLI's logging goes. The bar
is drawn only when the stream is a terminal; in a CI log or a pipe there is no bar and no
carriage return, only the lines.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

import optuna
from optuna.trial import TrialState
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from hpo import record
from hpo.pareto import is_multi_objective
from hpo.storage import SURPLUS, count_finished

logger = logging.getLogger(__name__)


class TrialProgress:
    """Optuna callback: one log line per finished trial (state, value, best so far, count),
    and one step of ``bar`` if there is one."""

    def __init__(self, target: int, done: int, bar: tqdm | None = None) -> None:
        self.target = target
        self.count = done
        self.bar = bar
        self.start = time.monotonic()
        self._study_attrs: tuple[int | None, str] | None = None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        attrs = trial.user_attrs
        if attrs.get(record.FAIL_REASON) == SURPLUS:
            return
        if self._study_attrs is None:  # set when the search started; read once
            self._study_attrs = record.n_validation(study), record.study_metric(study)
        n, metric = self._study_attrs
        # From the storage, in one read: the count sums every worker's trials, on every
        # machine, and leaves out re-queued and interrupted ones.
        trials = study.get_trials(deepcopy=False)
        self.count = count_finished(study, trials)
        if trial.state == TrialState.COMPLETE:
            what = f"{metric} {score(trial.values[0], n)}"
            if len(trial.values) > 1:
                what += f", {attrs.get('n_params')} parameters"
        elif trial.state == TrialState.PRUNED:
            what = f"pruned after epoch {attrs.get('epochs', '?')}"
        else:
            reason = attrs.get(record.FAIL_REASON) or trial.system_attrs.get(record.FAIL_REASON, "")
            what = f"failed: {str(reason).splitlines()[0] if reason else 'see above'}"
        if is_multi_objective(study):
            size = len(study.best_trials)
            best = f"Pareto front of {size}" if size else "no complete trial yet"
        else:
            top = _best(study, trials)
            best = (f"best {score(top.value, n)} (trial {top.number})" if top
                    else "no complete trial yet")
        speed = attrs.get("seconds_per_epoch")
        speed = f", {attrs.get('epochs')} epochs at {speed:.1f} s" if speed else ""
        logger.info("[%d/%d] trial %d %s%s | %s | %.0f s", self.count, self.target,
                    trial.number, what, speed, best, time.monotonic() - self.start)
        if self.bar is not None:
            self.bar.set_postfix_str(best, refresh=False)
            self.bar.update(self.count - self.bar.n)


score = record.format_score


def _best(study: optuna.Study, trials: list[optuna.trial.FrozenTrial]
          ) -> optuna.trial.FrozenTrial | None:
    """``study.best_trial`` among ``trials`` (None if none is complete), without another read."""
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE
                and t.value is not None]
    if not complete:
        return None
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return (max if maximize else min)(complete, key=lambda t: t.value)


@contextlib.contextmanager
def trial_progress(target: int, done: int, stream: TextIO | None = None,
                   ) -> Iterator[TrialProgress]:
    """The callback for ``study.optimize``, with a bar over the trials if ``stream`` (default:
    stderr) is a terminal. While the bar is up, console log lines are written above it."""
    stream = sys.stderr if stream is None else stream
    if not _is_terminal(stream):
        yield TrialProgress(target, done)
        return
    with tqdm(total=target, initial=done, unit="trial", desc="trials", file=stream,
              dynamic_ncols=True, leave=True) as bar, logging_redirect_tqdm():
        yield TrialProgress(target, done, bar)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
