"""Where studies live: storage URLs checked up front, studies created or resumed by name.

Every read and write goes through Optuna's own ``RDBStorage`` (which ``optuna.Study`` wraps in
its cache); hpo only chooses its settings: SQLite's pragmas, the heartbeat and the retry of a
dead worker's trial. What is hpo's own here is what Optuna has no notion of: URL checks and
masked passwords, a study's identity, which trials count towards the requested number, and
the clean-up after Ctrl-C.
"""

from __future__ import annotations

import datetime
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import sqlalchemy.event
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from hpo.errors import StorageError
from hpo.record import FAIL_REASON, INTERRUPTED, PROCESS, SURPLUS

DEFAULT_STORAGE = "sqlite:///hpo.db"
GRACE_FACTOR = 4  # heartbeats a running trial may miss before it is taken for dead
MAX_RETRY = 2  # a trial whose worker died is re-run at most this many times
FINISHED = tuple(s for s in optuna.trial.TrialState if s.is_finished())  # as Optuna decides


def check_url(url: str) -> str:
    """Return ``url`` if SQLAlchemy can parse it and knows its dialect; StorageError if not.

    Nothing is connected to or written here.
    """
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as e:
        raise StorageError(
            f"malformed storage URL {mask(url)!r} ({e}); expected a SQLAlchemy URL such as "
            f"{DEFAULT_STORAGE} or postgresql://user:password@host/db"
        ) from None
    try:
        parsed.get_dialect().import_dbapi()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"storage URL {mask(url)!r} names an unknown database '{parsed.drivername}'; "
            f"use sqlite:///FILE, postgresql://... or mysql://..."
        ) from None
    except ImportError as e:
        raise StorageError(
            f"storage URL {mask(url)!r} needs a database driver that is not installed ({e}); "
            f"for PostgreSQL: pip install 'hpo[postgres]'"
        ) from None
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise StorageError(
            f"storage URL {url!r} names no database file; write sqlite:///FILE, e.g. "
            f"{DEFAULT_STORAGE}"
        )
    return url


def check_exists(url: str) -> None:
    """For reading a study: a SQLite URL must name a file that is there (not create one)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and not os.path.isfile(parsed.database or ""):
        raise StorageError(f"no SQLite file {parsed.database!r} (from {url!r}); run a study "
                           f"first or pass the --storage it used")


def mask(url: str) -> str:
    """``url`` with any password replaced by ***, for messages, logs and files."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show no part that may be a secret
        return url.split("@")[-1] if "@" in url else url


def heartbeat_seconds() -> int:
    """How often a running trial tells the storage it is alive ($HPO_HEARTBEAT, default 5 s).

    A trial silent for GRACE_FACTOR heartbeats is taken for dead: failed, then re-queued.
    """
    value = os.environ.get("HPO_HEARTBEAT", "5")
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise StorageError(f"HPO_HEARTBEAT={value!r}: expected whole seconds >= 1")
    return seconds


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage that survives crashes and several writers.

    Heartbeats mark trials of dead workers as failed, and the retry callback re-queues them with
    the same params. SQLite waits for a lock instead of failing ("database is locked") and runs
    in WAL mode, so readers (the dashboard, other workers) do not block the writer.
    """
    interval = heartbeat_seconds()
    sqlite = make_url(url).drivername.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    try:
        storage = _create_tables_once(lambda: optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=GRACE_FACTOR * interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRY),
        ))
        if sqlite:
            # On the DBAPI connection: SQLAlchemy's would wrap it in a transaction, in which
            # SQLite silently keeps its journal mode. WAL then sticks to the file.
            connection = storage.engine.raw_connection()
            try:
                connection.cursor().execute("PRAGMA journal_mode=WAL")
            finally:
                connection.close()
            sqlalchemy.event.listen(storage.engine, "connect",
                                    lambda dbapi_connection, _: _sync_normal(dbapi_connection))
            storage.engine.dispose()  # connections opened from now on get the setting
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ImportError) as e:
        raise StorageError(f"cannot open storage {mask(url)!r}: {_without_secrets(e, url)}") \
            from None
    return storage


def _sync_normal(dbapi_connection: Any) -> None:
    # In WAL mode, NORMAL syncs at checkpoints instead of at every commit (SQLite's advice for
    # WAL): a trial's dozen small writes stop costing a disk flush each. A committed trial
    # survives a crash of the process; only an OS crash or power cut can lose the last ones.
    dbapi_connection.cursor().execute("PRAGMA synchronous=NORMAL")


def _create_tables_once(make: Callable[[], optuna.storages.RDBStorage],
                        attempts: int = 6) -> optuna.storages.RDBStorage:
    """``make()``, again if another process was creating the same new tables at that moment.

    Two workers or machines that open a new database together race to create Optuna's tables;
    the loser sees "table ... already exists" (SQLite) or a duplicate key (PostgreSQL) and
    simply finds the tables there on the next try.
    """
    races = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
             sqlalchemy.exc.ProgrammingError)
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                # Heartbeats are "experimental" since Optuna 2.9; they make crashes safe.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return make()
        except races as e:
            text = str(e).lower()
            raced = any(m in text for m in ("already exists", "duplicate", "unique constraint"))
            if attempt == attempts - 1 or not raced:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _without_secrets(error: Exception, url: str) -> str:
    password = make_url(url).password
    text = str(error).splitlines()[0]
    return text.replace(password, "***") if password else text


def retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of failed trials that were re-queued (their re-run stands in for them)."""
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return {n for t in trials for n in retry(t)}


def count_finished(study: optuna.Study,
                   trials: list[optuna.trial.FrozenTrial] | None = None) -> int:
    """Trials that count towards the requested number: complete, pruned or genuinely failed.

    Not counted: failed trials that were re-queued, and trials stopped by Ctrl-C or started
    when the study was already full. ``trials``: the study's, if just read.
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    retried = retried_numbers(trials)
    return sum(t.state.is_finished() and _counts(t, retried) for t in trials)


def count_claimed(study: optuna.Study, below: int | None = None, queued: bool = True) -> int:
    """Trials finished, running or (``queued``) waiting that count towards the requested number.

    With ``below``, only trials numbered lower: every worker on every machine agrees on which
    trials came first, so a trial that finds ``count_claimed(study, its number) >= target`` is
    one too many, however the workers raced.
    """
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    return sum((below is None or t.number < below) and _counts(t, retried)
               and (queued or t.state != optuna.trial.TrialState.WAITING) for t in trials)


def _counts(trial: optuna.trial.FrozenTrial, retried: set[int]) -> bool:
    return trial.number not in retried and trial.user_attrs.get(FAIL_REASON) not in (
        INTERRUPTED, SURPLUS)


def find_study_id(storage: optuna.storages.BaseStorage, url: str, study_name: str) -> int:
    """The id of an existing study; StorageError listing the studies there if it is not one."""
    try:
        names = [s.study_name for s in storage.get_all_studies()]
    except Exception as e:  # noqa: BLE001 - any storage failure is a setup error here
        raise StorageError(f"cannot read storage {mask(url)}: {_without_secrets(e, url)}") \
            from None
    if study_name not in names:
        raise StorageError(f"no study '{study_name}' in {mask(url)}; studies there: "
                           f"{', '.join(names) or '(none)'}")
    return storage.get_study_id_from_name(study_name)


def load_existing_study(url: str, study_name: str) -> optuna.Study:
    """A stored study, for reading: nothing is created, neither the SQLite file nor the study."""
    check_exists(url)
    storage = open_storage(url)
    find_study_id(storage, url, study_name)
    return optuna.load_study(study_name=study_name, storage=storage)


def open_study(
    url: str, study_name: str, directions: Sequence[str], identity: dict[str, object],
    metric_names: Sequence[str] | None = None,
    storage: optuna.storages.BaseStorage | None = None,
) -> optuna.Study:
    """Create the study or resume it, refusing one whose trials trained on something else or
    were scored on other objectives (``directions``: "maximize" / "minimize", one each).

    ``metric_names`` label the objectives in the dashboard and Optuna's plots. ``storage``:
    the storage of ``url`` if the caller opened it already.
    """
    storage = storage or open_storage(url)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=list(directions), load_if_exists=True
    )
    resolve = _RESOLVE.format(url=mask(url), name=study_name)
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != list(directions):
        # A resumed study keeps the directions it was made with, whatever create_study is told.
        raise StorageError(
            f"study '{study_name}' in {mask(url)} was made to {' and '.join(stored_directions)}"
            f", but this run would {' and '.join(directions)} (its objectives changed); its "
            f"trials cannot be mixed with this run's. {resolve}"
        )
    stored = study.user_attrs
    for key, value in identity.items():
        if key in stored and stored[key] != value:
            if isinstance(value, dict) and isinstance(stored[key], dict):
                changed = sorted(k for k in set(value) | set(stored[key])
                                 if value.get(k) != stored[key].get(k))
                what = f"a different [{key}] (changed: {', '.join(changed)})"
            else:
                what = f"{key} = {stored[key]!r}, but this run has {key} = {value!r}"
            raise StorageError(
                f"study '{study_name}' in {mask(url)} was made with {what}; its trials cannot "
                f"be mixed with this run's. {resolve}"
            )
    for key, value in identity.items():
        if key not in stored:
            study.set_user_attr(key, value)
    if metric_names and study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study


_RESOLVE = ("Use another --storage, or delete the study with: optuna delete-study --storage "
            "{url} --study-name {name}")


def fail_orphans(storage: optuna.storages.BaseStorage, study: optuna.Study,
                 processes: set[str], since: datetime.datetime) -> None:
    """After Ctrl-C: record as interrupted the trials that ``processes`` (host:pid tags) left
    RUNNING, never to stay so. A trial interrupted between its creation and its first write
    has no tag yet; it counts as ours when it started after ``since`` (this run's start).

    ``storage`` is the study's, as hpo opened it: its public API reaches another process's
    trials by number (``Study.tell`` would, but sets no attribute).
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        tag = trial.user_attrs.get(PROCESS)
        untagged_and_new = tag is None and trial.datetime_start is not None \
            and trial.datetime_start >= since
        if tag in processes or untagged_and_new:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, FAIL_REASON, INTERRUPTED)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
