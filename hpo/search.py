"""The search one process runs: open the study (data loaded once, the builder checked), then
run trials into it. The CLI (``hpo.run``), ``hpo.tune`` and each ``--workers`` process use it.

``open_run`` resolves everything a run needs from a ``RunSetup`` (checked flags and study file,
nothing loaded): the data, the builder (probed once, so that a bad one stops before the study
exists), and the study, created or resumed. ``run_trials`` then runs one worker's share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import optuna

from hpo import interrupt, pareto, record
from hpo.errors import HpoError
from hpo.record import set_user_attrs
from hpo.spec import StudySpec
from hpo.storage import SURPLUS, count_claimed, mask

if TYPE_CHECKING:  # loaded at run time only once the inputs are checked: they load Keras
    from hpo.builders import Builder
    from hpo.checkpoints import CheckpointStore
    from hpo.data import Arrays, Dataset, SearchData
    from hpo.streams import Pipelines


@dataclass(frozen=True)
class RunSetup:
    """What one run resolved from its flags (or ``hpo.tune``'s arguments) and study file, all
    checked, nothing loaded. Picklable: ``--workers`` hands it to each worker process."""

    spec: StudySpec
    study_name: str
    url: str
    out_dir: Path
    data_dir: str | None = None
    debug: bool = False
    # Where running trials write their checkpoints (--artifacts); None: beside a SQLite
    # file, else in out_dir (hpo.checkpoints.default_folder).
    artifacts: Path | None = None

    def __post_init__(self) -> None:
        check_out_dir(self.out_dir)
        if self.artifacts is not None:
            check_out_dir(self.artifacts, "checkpoint folder (--artifacts)")

    def checkpoints(self) -> CheckpointStore:
        """The study's checkpoint store."""
        from hpo.checkpoints import CheckpointStore, default_folder

        folder = self.artifacts or default_folder(self.url, self.out_dir)
        return CheckpointStore(folder, self.study_name)


def check_out_dir(path: Path, what: str = "output folder") -> None:
    """HpoError unless results can be written to ``path``: a folder there, or one that can be
    made (its nearest existing parent a writable folder). Checked before anything trains."""
    existing = Path(path)
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    where = f"{what} {str(path)!r}" + (" (--out, or hpo.tune's out_dir)"
                                        if what == "output folder" else "")
    if not existing.is_dir():
        raise HpoError(f"{where}: {str(existing)!r} is a file, not a folder; name a folder "
                       f"(it is made if missing), or move the file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HpoError(f"{where}: cannot write in {str(existing)!r}; name a folder you can "
                       f"write to")


@dataclass
class OpenRun:
    """A run ready to search: its setup (the metric resolved), data, builder and study."""

    setup: RunSetup
    data: Dataset
    builder: Builder
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    # ``warm_start``: the earlier study's trials, projected onto this space, for the sampler.
    warm: tuple[optuna.trial.FrozenTrial, ...] = ()

    @property
    def spec(self) -> StudySpec:
        return self.setup.spec


def open_run(setup: RunSetup, arrays: Arrays | Pipelines | None = None, check: bool = True,
             need_test: bool = False) -> OpenRun:
    """Load the data once, check the builder on it (``check``), then create or resume the
    study. ``arrays``: the data given from Python. ``need_test``: the final step will run, so
    a pipeline without a test part is an error. Raises HpoError, before anything is written
    to the storage, for a bad setup."""
    from hpo.builders import load_builder, probe
    from hpo.sources import load
    from hpo.space import signature
    from hpo.storage import open_storage, open_study

    if setup.spec.follows:
        setup = _inherit(setup)
    spec = setup.spec
    data = load(spec, setup.data_dir, arrays, need_test=need_test)
    builder = load_builder(spec.model, spec.data.base_dir)
    search = data.search
    spec = spec.for_task(search.task)
    setup = dataclasses.replace(setup, spec=spec)
    if check:
        probe(spec, search, builder)
    identity: dict[str, Any] = {
        "family": spec.family, "dataset": data.name, "input_shape": list(search.input_shape),
        "n_classes": search.n_classes, "space": signature(spec.space),
        # A study stored before tasks and metrics lacks these; it gets them, and resumes.
        "task": search.task, "n_outputs": search.n_outputs, "metric": spec.metric,
    }
    if spec.inherited:
        identity["inherited"] = dict(spec.inherited)
    identity["objectives"] = list(spec.objectives)
    labels = [spec.metric if name in ("metric", "accuracy") else name
              for name in spec.objectives]
    storage = open_storage(setup.url)
    warm = _warm_source(setup) if spec.warm_start else None
    study = open_study(setup.url, setup.study_name, spec.directions, identity,
                       metric_names=labels, storage=storage)
    warm_configs = warm_trials(warm, spec) if warm is not None else ()
    if warm is not None and check and record.WARM_START not in study.user_attrs:
        study.set_user_attr(record.WARM_START, {"study": warm.study_name,
                                                "trials": len(warm_configs)})
    if record.PREPROCESSING not in study.user_attrs:
        study.set_user_attr(record.PREPROCESSING, search.scaling.to_json())
    if spec.data.base_dir and record.BUILDER_DIR not in study.user_attrs:
        study.set_user_attr(record.BUILDER_DIR, spec.data.base_dir)
    if check:
        study.set_user_attr(record.SEARCH, search_record(spec, search))
    if check and study.user_attrs.get(record.OUT_DIR) != str(setup.out_dir):
        # Where this run writes, as given (relative to where it ran): hpo.export and
        # hpo.report, run from the same folder, look there by default.
        study.set_user_attr(record.OUT_DIR, str(setup.out_dir))
    return OpenRun(setup, data, builder, study, storage, warm_configs)


# How many of the earlier study's best configurations a warm-started study tries first.
WARM_QUEUE = 3
YOUNG_GC_THRESHOLD = 100_000  # gc's generation-0 threshold while trials run


def _warm_source(setup: RunSetup) -> optuna.Study:
    """The study ``warm_start`` names, in this run's storage."""
    from hpo.errors import StorageError
    from hpo.storage import load_existing_study

    name = setup.spec.warm_start
    try:
        source = load_existing_study(setup.url, name)
    except StorageError:
        raise HpoError(f"study '{setup.study_name}': warm_start = \"{name}\", but "
                       f"{mask(setup.url)} holds no study '{name}'; run it first with the same "
                       f"--storage, or fix the name") from None
    theirs = [d.name.lower() for d in source.directions]
    if theirs != list(setup.spec.directions):
        raise HpoError(f"study '{setup.study_name}': warm_start study '{name}' is scored "
                       f"{', '.join(theirs)}, this one {', '.join(setup.spec.directions)}; "
                       f"start from a study scored the same way")
    return source


def warm_trials(source: optuna.Study, spec: StudySpec) -> tuple[optuna.trial.FrozenTrial, ...]:
    """``source``'s completed trials as trials of ``spec``'s space: the parameters this space
    searches, with values inside it (the rest is left for the sampler), best first and each
    configuration once."""
    from hpo.space import distribution, domain_of, project

    done = [t for t in source.get_trials(deepcopy=False,
                                         states=(optuna.trial.TrialState.COMPLETE,))
            if t.values and all(v == v for v in t.values)]
    maximize = source.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    done.sort(key=lambda t: t.values[0], reverse=maximize)
    converted: list[optuna.trial.FrozenTrial] = []
    seen: list[dict[str, Any]] = []
    for t in done:
        params = project(t.params, spec.space)
        if not params or params in seen:
            continue
        seen.append(params)
        dists = {name: distribution(domain_of(spec.space, name)) for name in params}
        converted.append(optuna.trial.create_trial(
            params=params, distributions=dists, values=list(t.values),
            user_attrs={"warm_start": f"{source.study_name}#{t.number}"}))
    return tuple(converted)



def search_record(spec: StudySpec, search: SearchData) -> dict[str, Any]:
    """How this run searches, as the report shows it (``record.SEARCH``)."""
    from hpo.builders import versions

    starts = min(len(spec.enqueue), spec.budget.trials)  # enqueue_first queues no more
    return {
        "sampler": {"name": spec.sampler.name, **spec.sampler.options},
        "pruner": {"name": spec.pruner.name, **spec.pruner.options},
        "seed": spec.seed,
        "space": {name: domain.to_json() for name, domain in spec.space.items()},
        "n_validation": int(len(search.y_val)) if not spec.data.cv_folds else
        int(len(search.y_val) + len(search.y_train)),
        "budget": {"trials": spec.budget.trials, "max_epochs": spec.budget.max_epochs,
                   "timeout": spec.budget.timeout, "patience": spec.budget.patience},
        "final_seeds": spec.final_seeds,
        # The final retrain's run (train + validation, max_epochs): a cosine schedule's length.
        "retrain_run": {"examples": int(len(search.y_train) + len(search.y_val)),
                        "epochs": spec.budget.max_epochs},
        "start": (f"the {spec.family} family's textbook network"
                  + (f" and {starts - 1} more known-good start(s)" if starts > 1 else "")
                  if spec.textbook else
                  f"{starts} configuration(s) from the study file" if spec.enqueue
                  else None),
        "versions": versions(),
    }


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


def enqueue_first(spec: StudySpec, study: optuna.Study,
                  warm: Sequence[optuna.trial.FrozenTrial] = ()) -> int:
    """Queue what a new study tries first; how many: the best ``WARM_QUEUE`` configurations of
    the study it warm-starts from (``warm``), then the study file's ``[[enqueue]]`` ones (the
    family's textbook starts when the file names none), no more than the study's trials."""
    if study.trials:
        return 0
    queued: list[dict[str, Any]] = []
    for params in [*(dict(t.params) for t in warm[:WARM_QUEUE]), *map(dict, spec.enqueue)]:
        if params not in queued and len(queued) < spec.budget.trials:
            queued.append(params)
            study.enqueue_trial(params, skip_if_exists=True)
    return len(queued)


def run_trials(
    spec: StudySpec,
    study: optuna.Study,
    search: SearchData,
    n_trials: int,
    worker: int = 0,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
    builder: Builder | None = None,
    warm: Sequence[optuna.trial.FrozenTrial] = (),
    store: CheckpointStore | None = None,
) -> None:
    """Run ``n_trials`` trials of ``spec`` in this process (one worker's share). ``warm``: an
    earlier study's trials for the sampler to learn from (``OpenRun.warm``); ``store``: where
    trials write their per-epoch checkpoints (None: none)."""
    from hpo.objective import make_objective

    spec = spec if spec.metric else spec.for_task(search.task)
    _set_sampler_and_pruner(spec, study, worker, warm)
    # Which worker runs each trial, written with the trial's seed when it starts.
    here = {record.WORKER: worker, record.PROCESS: process_tag()}
    objective = make_objective(spec, search, builder, start_attrs=here, store=store)
    with _frozen_gc(), interrupt.watch():
        study.optimize(
            _gated(objective, spec, here),
            n_trials=n_trials,
            timeout=spec.budget.timeout,
            # A bad trial (diverged, out of memory, an impossible config) fails alone.
            catch=(Exception,),
            callbacks=[*callbacks, _stop_when_full(spec.budget.trials)],
        )


def _set_sampler_and_pruner(spec: StudySpec, study: optuna.Study, worker: int,
                            warm: Sequence[optuna.trial.FrozenTrial]) -> None:
    from hpo.samplers import WarmStartSampler, make_pruner, make_sampler
    from hpo.space import grid_space

    # Each worker, and each resumed run, gets its own sampler seed: no replayed draws.
    sampler = make_sampler(
        spec.sampler.name, spec.sampler.options,
        seed=spec.seed + 1000 * worker + len(study.trials),
        grid=grid_space(spec.space) if spec.sampler.name == "grid" else None,
    )
    study.sampler = WarmStartSampler(sampler, warm) if warm else sampler
    # The pruner's steps are epochs, or folds when a trial cross-validates.
    steps = spec.data.cv_folds or spec.budget.max_epochs
    deadline = time.monotonic() + spec.budget.timeout if spec.budget.timeout else None
    study.pruner = make_pruner(spec.pruner.name, spec.pruner.options, steps, deadline,
                               unit="fold" if spec.data.cv_folds else "epoch")


def _gated(objective: Callable[[optuna.Trial], Any], spec: StudySpec,
           here: dict[str, Any]) -> Callable[[optuna.Trial], Any]:
    """``objective``, unless other workers (here or on other machines) filled the study
    first: then the trial is recorded as not needed and this worker stops."""
    from hpo.objective import failed

    target = spec.budget.trials

    def gated(trial: optuna.Trial) -> Any:
        # Fewer than ``target`` trials are numbered below one numbered under ``target``: only
        # a later trial needs to read the study to know.
        if trial.number >= target and count_claimed(trial.study, below=trial.number) >= target:
            set_user_attrs(trial, {**here, record.FAIL_REASON: SURPLUS})
            trial.study.stop()
            return failed(spec)
        return objective(trial)

    return gated


def _stop_when_full(target: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    def stop_when_full(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # Queued trials ([[enqueue]], a warm start) are still to run here: not a reason to stop.
        # A trial that finished although Ctrl-C came (TensorFlow swallowed it) ends the run.
        interrupt.raise_if_requested()
        if count_claimed(study, queued=False) >= target:
            study.stop()

    return stop_when_full


@contextlib.contextmanager
def _frozen_gc() -> Iterator[None]:
    """What is alive now (TensorFlow, Keras, the data) lives as long as the run: set aside
    from the cyclic garbage collector, a full collection between trials scans only what
    trials made, ~150 ms every GC_EVERY trials instead of ~250 ms (bench/overhead.py).

    A young collection once 100 000 more objects are allocated than freed, not Python's 700:
    a trial's Keras build and storage calls make tens of thousands of objects, most freed by
    reference counting before a collection would look at them (bench/overhead.py: 158 ms a
    trial outside model.fit at 700, 118-133 at 20 000, 106-111 at 100 000; collecting the
    young generation after every trial instead cost more, 142-169). A trial's cycles still go
    at the full collection every GC_EVERY trials (hpo.objective).
    """
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def process_tag(pid: int | None = None) -> str:
    """Which machine and process runs a trial: "host:pid" (shown in the dashboard)."""
    import socket

    return f"{socket.gethostname()}:{pid or os.getpid()}"
