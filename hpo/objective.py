"""``make_objective(spec, data, builder) -> objective(trial)``: one trial trains one Keras model.

The objective sees only the search splits (``SearchData``); the test split is not reachable
from here. The builder makes the model from the trial (``hpo.builders``); its value is the best
score of the study's metric over the epochs it ran (validation accuracy unless the study says
otherwise), and the epoch that reached it is what the final retrain uses. With ``[data]
cv_folds = k`` a trial trains k models, one per fold of train + validation: its value is the
mean of their best scores and the final retrain uses the median of their best epochs.

A multi-objective study (``objectives = ["metric", "n_params"]``) scores a trial on that metric
and on its model's parameter count, a pair. Optuna cannot prune such trials, so they report
nothing per epoch or fold; early stopping by ``patience`` still ends them.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import optuna
from optuna_integration import KerasPruningCallback

from hpo import interrupt, record
from hpo.builders import Builder, build, load_builder
from hpo.checkpoints import CheckpointStore, Saved, restore
from hpo.data import SearchData
from hpo.fit import STEPS_PER_EXECUTION, Feeder, new_session, released_gradients
from hpo.space import Run, param, sampling
from hpo.spec import StudySpec
from hpo.tasks import CLASSIFICATION

logger = logging.getLogger(__name__)

GC_EVERY = 10


class TrialDiverged(RuntimeError):
    """The loss blew up: the trial is recorded as failed with the reason, the study goes on."""


# A training loss this many times the loss of guessing (ln n_classes for a classifier, the
# squared targets for a regression) means the run diverged (lr=100 gives 40 to 1e23 here), not
# that it is merely learning slowly.
DIVERGED_FACTOR = 10.0


# The per-epoch metrics a trial keeps as its ``history`` user attribute (and the report plots).
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def history_keys(metric: str) -> tuple[str, ...]:
    """loss and the study's metric, on training and validation (accuracy for classifiers)."""
    base = metric.removeprefix("val_")
    keys = ["loss", base, "val_loss", metric]
    return tuple(dict.fromkeys(keys))


def guessing_loss(data: SearchData) -> float:
    """About the loss of a model that knows nothing: ln(classes), or for a regression the
    squared (or absolute, whichever is larger) targets, as an untrained net predicts ~0."""
    if data.task == CLASSIFICATION:
        return math.log(max(int(data.n_classes or 2), 2))
    y = np.asarray(data.y_train, dtype=np.float64)
    return float(max(np.mean(y ** 2), np.mean(np.abs(y)), 1e-12))


class EpochRecorder(keras.callbacks.Callback):
    """Times each epoch, keeps its metrics and stops a trial whose loss diverged.

    Unlike Keras's own ``History``, which ``fit`` returns only when it ends normally, the record
    survives a trial that is pruned or fails mid-fit. ``guessing``: the loss of guessing; a
    loss ``DIVERGED_FACTOR`` times that is a divergence (None: only NaN and inf are).
    """

    def __init__(self, guessing: float | None, keys: tuple[str, ...] = HISTORY_KEYS) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.history: dict[str, list[float | None]] = {key: [] for key in keys}
        # Unrounded, as Keras logged them: what the best epoch is chosen from.
        self.raw: dict[str, list[float | None]] = {key: [] for key in keys}
        self.guessing = guessing
        self.max_loss = DIVERGED_FACTOR * guessing if guessing else math.inf
        self.fit_seconds = 0.0  # all of model.fit, tracing included; added by the caller
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Keras's TerminateOnNaN, without its "Batch 31: Invalid loss" line on stdout: the
        # trial's fail_reason says it.
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True

    def carry(self, state: dict[str, Any]) -> None:
        """Take over the epochs a checkpoint kept (``EpochCheckpoint.state``)."""
        self.seconds = list(state["seconds"])
        self.history = {key: list(state["history"].get(key, [])) for key in self.history}
        self.raw = {key: list(state["raw"].get(key, [])) for key in self.raw}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        logs = logs or {}
        for key, values in self.history.items():
            values.append(rounded(logs.get(key)))
            value = logs.get(key)
            self.raw[key].append(float(value) if value is not None else None)
        # Ctrl-C that TensorFlow swallowed during the epoch stops the trial here.
        interrupt.raise_if_requested()
        loss = logs.get("loss")
        if loss is not None and not (math.isfinite(loss) and loss <= self.max_loss):
            # Raised before the pruning callback sees the epoch: a diverged run is a failure,
            # not a merely unpromising trial.
            guess = f" (guessing scores {self.guessing:.3g})" if self.guessing else ""
            raise TrialDiverged(
                f"diverged: training loss {loss:.4g} in epoch {epoch + 1}{guess}; the learning "
                f"rate is likely too high"
            )


def rounded(value: float | None, digits: int = 5) -> float | None:
    """``value`` to ``digits`` significant digits for storing; None if missing or not finite.

    None rather than NaN: NaN is not JSON, and the stored attributes are read back as JSON.
    """
    if value is None or not math.isfinite(value):
        return None
    return float(f"{float(value):.{digits}g}")


def trial_seed(spec: StudySpec, trial_number: int) -> int:
    """The seed a trial trains with; the final retrain of that trial reuses it."""
    return record.trial_seed(spec.seed, trial_number)


Values = float | tuple[float, ...]


def failed(spec: StudySpec) -> Values:
    """What an objective returns for a trial that must end FAIL without a traceback.

    NaN for every objective: Optuna fails a trial with any NaN value, and no half of a pair is
    left looking like a score.
    """
    return (math.nan,) * len(spec.objectives) if spec.multi_objective else math.nan


# The losses whose scale hpo knows (so that 10x the loss of guessing means diverged).
def _known_loss(model: keras.Model) -> bool:
    from hpo.models import one_hot_mse

    known = (keras.losses.sparse_categorical_crossentropy, keras.losses.binary_crossentropy,
             one_hot_mse, "mse", "mean_squared_error", "sparse_categorical_crossentropy",
             "binary_crossentropy", "categorical_crossentropy")
    return any(model.loss is k or model.loss == k for k in known)


def make_objective(spec: StudySpec, data: SearchData, builder: Builder | None = None,
                   start_attrs: Mapping[str, Any] | None = None,
                   store: CheckpointStore | None = None) -> Callable[[optuna.Trial], Values]:
    """The objective Optuna optimizes: the study's metric (``spec.metric``, validation accuracy
    by default) of one trained configuration of ``builder`` (default: the spec's model), or
    with ``[data] cv_folds = k`` its mean over k folds of train + validation; with two
    objectives, that score and the model's parameter count. ``start_attrs``: user attributes
    every trial gets when it starts (the worker that runs it), in the same write as its seed.
    ``store``: where each trial writes its checkpoint after every epoch (holdout trials; a
    cross-validated trial restarts), and a retried trial finds its predecessor's."""
    return Objective(spec, data, builder, start_attrs, store)


@dataclass
class _Trained:
    """What one trial has done so far: recorded in every outcome (``Objective._record``)."""

    recorders: list[EpochRecorder]
    outcome: dict[str, Any] = field(default_factory=dict)  # why it was pruned or failed
    fold_scores: list[float] = field(default_factory=list)
    n_params: int | None = None
    best_epoch: int | None = None
    key: str = ""  # its checkpoint's
    saved: Saved | None = None  # the checkpoint it resumes from
    keep_checkpoint: bool = False  # interrupted: a rerun resumes it


class Objective:
    """``make_objective``'s callable: set up once per process, called once per trial."""

    def __init__(self, spec: StudySpec, data: SearchData, builder: Builder | None = None,
                 start_attrs: Mapping[str, Any] | None = None,
                 store: CheckpointStore | None = None) -> None:
        self.spec = spec = spec if spec.metric else spec.for_task(data.task)
        self.builder = builder or load_builder(spec.model, spec.data.base_dir)
        self.info = data.info()
        self.k = spec.data.cv_folds
        self.prune = not spec.multi_objective
        # One Feeder per fold, for the whole process: the arrays become tensors once.
        self.feeders = data.feeders(self.k, spec.seed)
        self.guessing = guessing_loss(data)
        self.keys = history_keys(spec.metric)
        self.start_attrs = dict(start_attrs or {})
        self.store = store  # None: no checkpoints

    def __call__(self, trial: optuna.Trial) -> Values:
        spec = self.spec
        # A full garbage collection costs ~0.25 s with TensorFlow loaded (~150 ms once
        # run_trials has frozen what lives for the whole run: the trials' traced graphs).
        # Every GC_EVERY trials keeps memory flat (bench/memory.py).
        done = _Trained([self.recorder()])
        seed = self._start(trial, done)
        try:
            value = self._train(trial, done, seed)
        except TrialDiverged as e:
            # An expected way for a trial to go wrong: recorded as FAIL (Optuna's verdict on a
            # NaN value) with its reason, without a traceback in the log.
            done.outcome[record.FAIL_REASON] = str(e)
            return failed(spec)
        except optuna.TrialPruned as e:
            done.outcome[record.PRUNED_REASON] = str(e)
            raise
        except KeyboardInterrupt:
            # Optuna records the trial as failed; this marks it as not counting towards the
            # requested number of trials, so a rerun runs it again (from its checkpoint).
            done.outcome[record.FAIL_REASON] = record.INTERRUPTED
            done.outcome[record.SIGNAL] = interrupt.signal_name() or "SIGINT"
            done.keep_checkpoint = True
            raise
        except Exception as e:
            # Optuna records the trial as failed (the study catches it); the reason goes where
            # the dashboard shows it, next to the diverged trials' reasons. Ctrl-C that came
            # out of TensorFlow as another error is an interrupt still.
            done.outcome[record.FAIL_REASON] = (record.INTERRUPTED if interrupt.requested()
                                                else _one_line(e))
            done.keep_checkpoint = interrupt.requested()
            if done.keep_checkpoint:
                done.outcome[record.SIGNAL] = interrupt.signal_name()
            interrupt.raise_if_requested(e)
            raise
        finally:
            self._record(trial, done)
            if self.store is not None and not done.keep_checkpoint:
                self.store.remove(done.key)
        if not spec.multi_objective:
            return value
        scores = {"metric": value, "accuracy": value, "n_params": float(done.n_params)}
        return tuple(scores[name] for name in spec.objectives)

    def _start(self, trial: optuna.Trial, done: _Trained) -> int:
        """Set the trial up: its seed (a retry's is its predecessor's), its checkpoint (a retry
        takes over its predecessor's, if one was written), the first attributes. The seed."""
        spec = self.spec
        # A retry (Optuna's of a dead worker's trial, hpo's of an interrupted one) starts with
        # its predecessor's attributes: the checkpoint it wrote, the seed it trained with.
        carried = trial.user_attrs.get(record.CHECKPOINT)
        attrs: dict[str, Any] = {**self.start_attrs, record.FAIL_REASON: None,
                                 record.PRUNED_REASON: None}
        if not isinstance(carried, dict):
            seed = trial_seed(spec, trial.number)
            done.key = f"trial-{trial.number}"
        else:
            before = int(carried["trial"])
            seed = int(trial.user_attrs.get(record.SEED, trial_seed(spec, trial.number)))
            done.key = str(carried["key"])
            if self.store is not None and not self.k:
                done.saved = self.store.load(done.key)
            kept = done.saved.epoch if done.saved else 0
            attrs[record.RESUMED] = {"from": before, "at_epoch": kept + 1, "kept": kept}
            logger.info("trial %d resumed at epoch %d (%d epoch%s kept)", trial.number,
                        kept + 1, kept, "" if kept == 1 else "s")
        new_session(seed, free_memory=trial.number % GC_EVERY == 0)
        # At once: which worker runs the trial (hpo.workers counts the running trials by it).
        record.set_user_attrs(trial, {**attrs, record.SEED: seed, record.CHECKPOINT: {
            "key": done.key, "trial": trial.number}})
        return seed

    def recorder(self) -> EpochRecorder:
        return EpochRecorder(self.guessing, self.keys)

    def new_model(self, trial: optuna.Trial, recorder: EpochRecorder,
                  feeder: Feeder) -> keras.Model:
        run = Run(feeder.examples, self.spec.budget.max_epochs)  # a cosine schedule's length
        with sampling(self.spec.space, self.spec.inherited, run=run):
            model = build(self.builder, trial, self.info, STEPS_PER_EXECUTION)
        if not _known_loss(model):  # a loss of the user's: only NaN and inf are divergence
            recorder.guessing, recorder.max_loss = None, math.inf
        return model

    def _train(self, trial: optuna.Trial, done: _Trained, seed: int) -> float:
        """Build the trial's model and train it on the holdout split or on each fold."""
        spec = self.spec
        model = self.new_model(trial, done.recorders[0], self.feeders[0])
        with sampling(spec.space, spec.inherited):
            batch_size = int(param(trial, "batch_size"))
        done.n_params = int(model.count_params())
        trial.set_user_attr(record.N_PARAMS, done.n_params)  # shown while the trial runs
        if self.k:
            return self._folds(trial, done, model, batch_size, seed)
        recorder = done.recorders[0]
        start = self._resume(trial, done, model)
        pruning = (KerasPruningCallback(trial, spec.metric),) if self.prune else ()
        checkpoint = EpochCheckpoint(self.store, done.key, recorder, done.saved) \
            if self.store is not None else None
        try:
            value, done.best_epoch = _fit(model, self.feeders[0], batch_size, spec, recorder,
                                          *pruning, initial_epoch=start, checkpoint=checkpoint)
        except optuna.TrialPruned:
            raise optuna.TrialPruned(_pruned_after_epoch(spec, recorder, trial)) from None
        return value

    def _resume(self, trial: optuna.Trial, done: _Trained, model: keras.Model) -> int:
        """Load a retried trial's checkpoint into ``model``, carry its epochs over (history,
        intermediate values); the epoch to go on from (0: from the start)."""
        if done.saved is None:
            return 0
        try:
            restore(model, done.saved)
        except ValueError as e:  # not this trial's model after all: train it from the start
            logger.warning("trial %d: %s; training from epoch 1", trial.number, e)
            done.saved = None
            return 0
        recorder = done.recorders[0]
        recorder.carry(done.saved.state)
        for step, value in enumerate(recorder.raw.get(self.spec.metric, [])):
            if value is not None and self.prune:
                trial.report(value, step)
        return done.saved.epoch

    def _folds(self, trial: optuna.Trial, done: _Trained, model: keras.Model,
               batch_size: int, seed: int) -> float:
        """Train one model per fold; the mean of their best scores, reported fold by fold."""
        spec, k = self.spec, self.k
        best_epochs = []
        for fold, feeder in enumerate(self.feeders):
            recorder = done.recorders[-1]
            if fold:
                # The same seed: every fold starts from the initial weights the final retrain
                # of this trial starts from, so folds differ by their data.
                keras.utils.set_random_seed(seed)
                recorder = self.recorder()
                done.recorders.append(recorder)
                model = self.new_model(trial, recorder, feeder)
            try:
                score, epoch = _fit(model, feeder, batch_size, spec, recorder)
            except TrialDiverged as e:
                raise TrialDiverged(f"{e} (fold {fold + 1} of {k})") from None
            done.fold_scores.append(score)
            best_epochs.append(epoch)
            value = statistics.fmean(done.fold_scores)
            if not self.prune:
                continue
            # Steps are folds: the pruner compares trials on their mean after as many folds.
            # After the last fold there is nothing left to save by pruning.
            trial.report(value, step=fold)
            if fold < k - 1 and trial.should_prune():
                raise optuna.TrialPruned(_guard_reason(trial) or (
                    f"pruned after fold {fold + 1} of {k} (mean {spec.metric} {value:.4g})"))
        # An epoch some fold actually peaked at; the lower middle one for an even k.
        done.best_epoch = statistics.median_low(best_epochs)
        return value

    def _record(self, trial: optuna.Trial, done: _Trained) -> None:
        """Set in every state, so that each trial shows the same columns in the dashboard; in
        one call with the outcome. Epochs and seconds summed over the folds: what the trial
        cost."""
        recorders = done.recorders
        attrs = _timing([r.seconds for r in recorders], sum(r.fit_seconds for r in recorders))
        attrs.update(done.outcome)
        attrs[record.HISTORY] = recorders[0].history
        if done.n_params is None:  # no model was built
            attrs[record.N_PARAMS] = None
        if self.k:
            scores = done.fold_scores
            attrs[record.FOLD_SCORES] = [rounded(s) for s in scores]
            attrs[record.CV_STD] = rounded(statistics.stdev(scores)) if len(scores) > 1 else None
        if done.best_epoch is not None:  # the trial finished
            attrs[record.BEST_EPOCH] = done.best_epoch
            # What its schedule spanned, for the retrain (a rerun may change max_epochs).
            attrs[record.MAX_EPOCHS] = self.spec.budget.max_epochs
        record.set_user_attrs(trial, attrs)


def _guard_reason(trial: optuna.Trial) -> str | None:
    """Why the time guard (a TimeBudgetPruner) stopped ``trial``, if it did; said once."""
    return getattr(trial.study.pruner, "reasons", {}).pop(trial.number, None)


def _pruned_after_epoch(spec: StudySpec, recorder: EpochRecorder, trial: optuna.Trial) -> str:
    """hpo's words for a pruned trial, epochs counted from 1."""
    reason = _guard_reason(trial)
    if reason:
        return reason
    epochs = len(recorder.seconds)
    scores = recorder.history.get(spec.metric) or [None]
    last = scores[-1]
    score = f": {spec.metric} {last:.4g}" if last is not None else ""
    return f"pruned after epoch {epochs}{score}, behind the other trials at that epoch"


def _fit(model: keras.Model, feeder: Feeder, batch_size: int, spec: StudySpec,
         recorder: EpochRecorder, *callbacks: keras.callbacks.Callback, initial_epoch: int = 0,
         checkpoint: EpochCheckpoint | None = None) -> tuple[float, int]:
    """Train ``model`` on one feeder's splits from ``initial_epoch``; its best score of the
    study's metric and the (1-based) epoch that reached it, over the epochs ``recorder`` holds
    (a resumed trial's carried ones too). Raises TrialDiverged, and what ``callbacks`` raise."""
    maximize = spec.direction == "maximize"
    before: tuple[keras.callbacks.Callback, ...] = (feeder.order_callback(), recorder)
    if spec.budget.patience and not follows_a_cosine(model):
        early = keras.callbacks.EarlyStopping(monitor=spec.metric, mode="max" if maximize
                                              else "min", patience=spec.budget.patience)
        before += (early,)
        if checkpoint is not None:
            checkpoint.early = early
    if checkpoint is not None:  # after the epoch's record, before the pruner may end it
        before += (checkpoint,)
    start = time.perf_counter()
    try:
        with released_gradients():
            model.fit(
                feeder.train(batch_size),
                epochs=spec.budget.max_epochs,
                initial_epoch=initial_epoch,
                validation_data=feeder.validation(),
                shuffle=False,  # the feeder shuffles
                callbacks=[*before, *callbacks],
                verbose=0,
            )
    finally:
        recorder.fit_seconds += time.perf_counter() - start
    scores = recorder.raw.get(spec.metric) or []
    losses = recorder.raw.get("loss") or []
    last_loss = losses[-1] if losses else None
    if last_loss is not None and not math.isfinite(last_loss) or not any(
            v is not None for v in scores):
        if last_loss is not None and math.isfinite(last_loss):
            logged = [k for k, v in recorder.raw.items() if any(x is not None for x in v)]
            raise ValueError(f"the model logs no {spec.metric}; it logs {', '.join(logged)}")
        # The recorder stopped the epoch mid-way at a NaN loss, before the epoch's end.
        raise TrialDiverged(f"diverged: training loss {last_loss if losses else 'NaN'} in "
                            f"epoch {len(losses)}")
    best = best_epoch(recorder.raw, spec.metric, maximize)
    if best is None:
        raise TrialDiverged(f"diverged: {spec.metric} was never finite")
    return float(scores[best]), best + 1


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the trial's checkpoint at each epoch's end (``hpo.checkpoints``): the model and
    optimizer, the epochs ``recorder`` holds, the early-stopping state (``early``, set by
    ``_fit``). A resumed trial's ``saved`` early-stopping state is put back at the start."""

    def __init__(self, store: CheckpointStore, key: str, recorder: EpochRecorder,
                 saved: Saved | None = None) -> None:
        super().__init__()
        self.store, self.key, self.recorder, self.saved = store, key, recorder, saved
        self.early: keras.callbacks.EarlyStopping | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        state = (self.saved.state.get("early") if self.saved else None) or {}
        if self.early is not None and state:  # after EarlyStopping's own reset
            self.early.wait, self.early.best_epoch = state["wait"], state["best_epoch"]
            self.early.best = state["best"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        early = self.early
        self.store.save(self.key, self.model, {
            "epoch": epoch + 1, "seconds": self.recorder.seconds,
            "history": self.recorder.history, "raw": self.recorder.raw,
            "early": {"wait": early.wait, "best_epoch": early.best_epoch,
                      "best": None if early.best is None else float(early.best)}
            if early is not None else None,
        })


def best_epoch(history: Mapping[str, Sequence[float | None]], metric: str,
               maximize: bool) -> int | None:
    """The epoch (from 0) at which ``metric`` peaked in ``history`` (Keras's, or hpo's
    recorded one); None if it was never finite.

    Epochs tied at the best score are told apart by the validation loss (the lowest), then the
    earliest. An accuracy on n validation examples moves in steps of 1/n, so ties are common on
    a plateau: the textbook CNN's validation accuracy was 0.9920 at epochs 10, 14 and 15 of a
    16-epoch cosine, while its loss went on falling (0.0278, 0.0268, 0.0267). The first of
    them had been chosen, and the final retrain stopped there with the rate still at a third.
    """
    scores = history.get(metric) or []
    finite = [i for i, v in enumerate(scores) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    top = (max if maximize else min)(scores[i] for i in finite)
    tied = [i for i in finite if scores[i] == top]
    if len(tied) == 1 or metric == "val_loss":
        return tied[0]
    losses = history.get("val_loss") or []
    ranked = [i for i in tied
              if i < len(losses) and losses[i] is not None and math.isfinite(losses[i])]
    return min(ranked, key=lambda i: (losses[i], i)) if ranked else tied[0]


def follows_a_cosine(model: keras.Model) -> bool:
    """Whether ``model`` trains at a rate that a cosine runs down to 0: hpo's ``schedule =
    "cosine"``, or a builder's own ``keras.optimizers.schedules.CosineDecay``.

    ``patience`` does not stop such a run: the cosine's last epochs, at the lowest rates, are
    where it gains, and a plateau before them is noise. On ``cnn`` (16 epochs) patience 3 stopped
    the textbook start at epoch 13 (validation 0.9917, 0.9918, 0.9917 after 0.9920 at epoch
    10), and its retrain, stopped at epoch 10 with the rate still at a third, tested 0.9922.
    The pruner and the time guard still stop a cosine trial; its score is still its best epoch's.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return False
    try:
        rate = optimizer.get_config().get("learning_rate")
    except NotImplementedError:  # a schedule of the user's without get_config: not a cosine
        return False
    return isinstance(rate, dict) and rate.get("class_name") == "CosineDecay"


def _timing(seconds: list[list[float]], fit_seconds: float) -> dict[str, Any]:
    """A trial's cost attributes; ``seconds``: each trained model's (each fold's) epoch times."""
    # A model's first epoch also traces its graph: the typical epoch is the median of the
    # others (of the first, if a model ran one epoch only).
    steady = [t for s in seconds for t in (s[1:] or s)]
    return {
        record.EPOCHS: sum(len(s) for s in seconds),
        # All of model.fit, tracing included: what the rest of a trial's time is measured
        # against.
        record.FIT_SECONDS: round(fit_seconds, 3) if fit_seconds else None,
        record.SECONDS_PER_EPOCH: round(statistics.median(steady), 4) if steady else None,
    }


def _one_line(error: BaseException, limit: int = 300) -> str:
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
