"""Where studies live: storage URLs checked up front, studies created or resumed by name."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from typing import Any

import optuna
import sqlalchemy.event
import sqlalchemy.exc
from optuna.distributions import BaseDistribution
from sqlalchemy.engine import make_url

from hpo.errors import StorageError
from hpo.record import FAIL_REASON, INTERRUPTED, PROCESS, SURPLUS

DEFAULT_STORAGE = "sqlite:///hpo.db"
GRACE_FACTOR = 4  # heartbeats a running trial may miss before it is taken for dead
MAX_RETRY = 2  # a trial whose worker died is re-run at most this many times


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


class Storage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, with shortcuts for what a trial's bookkeeping does many times.

    - ``set_trial_user_attrs``: several user attributes in one transaction (Optuna writes each
      in its own), ``count_trials``: one COUNT (Optuna reads every trial to count them).
    - On SQLite (``plain_sql``, set by ``open_storage``), a trial's reads and writes (the
      running trial and the new ones, as Optuna's cache asks for them; its parameters,
      reports and attributes) go to the tables in plain SQL on the DBAPI connection. Through
      SQLAlchemy's ORM each costs 1-4 ms, about 60 ms a short trial (bench/overhead.py); in
      plain SQL, 0.05-0.3 ms. The rows and the FrozenTrials are Optuna's, field for field, and
      so are its checks and errors (tests/test_storage.py holds both paths to each other).

    The shortcuts rest on Optuna's private API (its table models, its session): if a release
    moves them, Optuna's own code runs, and ``set_user_attrs`` and ``stored_trials`` fall back
    to its public calls.
    """

    plain_sql = False

    def _sqlite(self) -> _SQLite | None:
        """The plain-SQL path, or None where it does not apply (then Optuna's code runs)."""
        if not self.plain_sql:
            return None
        try:
            return _SQLite.of(self)
        except (*_MOVED, KeyError):  # KeyError: a column renamed
            self.plain_sql = False
            return None

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """Several user attributes of one trial in one transaction."""
        sql = self._sqlite()
        if sql:
            return sql.set_attrs("user", trial_id, attrs)
        from optuna.storages._rdb.models import TrialUserAttributeModel
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self.scoped_session, True) as session:
            for key, value in attrs.items():
                self._set_trial_attr_without_commit(session, TrialUserAttributeModel,
                                                    trial_id, key, value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        sql = self._sqlite()
        if sql:
            return sql.set_attrs("user", trial_id, {key: value})
        super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        sql = self._sqlite()
        if sql:
            return sql.set_attrs("system", trial_id, {key: value})
        super().set_trial_system_attr(trial_id, key, value)

    def _set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                         distribution: BaseDistribution,
                         previous_distribution: BaseDistribution | None) -> None:
        sql = self._sqlite()
        if sql:
            return sql.set_param(trial_id, param_name, param_value_internal, distribution,
                                 previous_distribution)
        super()._set_trial_param(trial_id, param_name, param_value_internal, distribution,
                                 previous_distribution)

    def _create_new_trial(self, study_id: int,
                          template_trial: optuna.trial.FrozenTrial | None = None
                          ) -> optuna.trial.FrozenTrial:
        sql = self._sqlite()
        if sql and template_trial is None:  # a queued or copied trial: Optuna's code
            return sql.create_trial(study_id)
        return super()._create_new_trial(study_id, template_trial)

    def set_trial_state_values(self, trial_id: int, state: optuna.trial.TrialState,
                               values: Sequence[float] | None = None) -> bool:
        sql = self._sqlite()
        if sql:
            return sql.set_state_values(trial_id, state, values)
        return super().set_trial_state_values(trial_id, state, values)

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        sql = self._sqlite()
        if sql:
            return sql.set_intermediate(trial_id, step, intermediate_value)
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def record_heartbeat(self, trial_id: int) -> None:
        sql = self._sqlite()
        if sql:
            return sql.record_heartbeat(trial_id)
        super().record_heartbeat(trial_id)

    def _get_trials(self, study_id: int, states: Container[optuna.trial.TrialState] | None,
                    included_trial_ids: set[int], trial_id_greater_than: int
                    ) -> list[optuna.trial.FrozenTrial]:
        sql = self._sqlite()
        if sql:
            return sql.trials(study_id, states, included_trial_ids, trial_id_greater_than)
        return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)

    def get_trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
        sql = self._sqlite()
        return sql.trial(trial_id) if sql else super().get_trial(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        sql = self._sqlite()
        if sql and self.heartbeat_interval is not None:
            return sql.stale_trial_ids(study_id, self.grace_period or 2 * self.heartbeat_interval)
        return super()._get_stale_trial_ids(study_id)

    def count_trials(self, study_id: int) -> int:
        """How many trials the study holds, in any state: one COUNT query."""
        sql = self._sqlite()
        if sql:
            return sql.count(study_id)
        from optuna.storages._rdb.models import TrialModel
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self.scoped_session) as session:
            return session.query(sqlalchemy.func.count(TrialModel.trial_id)).filter(
                TrialModel.study_id == study_id).scalar()


# What Optuna's private API raises when a release has moved or changed what Storage calls.
_MOVED = (ImportError, AttributeError, TypeError)


def _utc(local: datetime.datetime) -> datetime.datetime:
    """A naive local time as Optuna's trials table keeps it: naive UTC."""
    return local.astimezone(datetime.UTC).replace(tzinfo=None)


def _local(utc: datetime.datetime | None) -> datetime.datetime | None:
    """A time from Optuna's trials table (naive UTC) as Optuna returns it: naive local."""
    if utc is None:
        return None
    return utc.replace(tzinfo=datetime.UTC).astimezone().replace(tzinfo=None)


class _SQLite:
    """A trial's reads and writes in plain SQL on the DBAPI connection, on Optuna's tables.

    Reads build the FrozenTrials that Optuna's ``RDBStorage._get_trials`` builds from the
    same rows, with its conversions; each is one transaction, so that a trial is seen as it
    was at one moment (its state with the values written with it). Writes store the rows
    that Optuna's would, after its checks (a finished trial is not updated, a parameter keeps
    its distribution), each in one transaction that takes the write lock first.
    """

    def __init__(self, storage: Storage) -> None:
        from optuna.storages._rdb import models

        self.storage = storage
        self.not_found = models.NOT_FOUND_MSG
        self.value = models.TrialValueModel.stored_repr_to_value
        self.intermediate = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
        self.intermediate_to_stored = (
            models.TrialIntermediateValueModel.intermediate_value_to_stored_repr)
        dialect = storage.engine.dialect
        self.table = models.TrialModel.__table__.name
        if list(models.TrialModel.__table__.c.state.type.enums) != [
                s.name for s in optuna.trial.TrialState]:
            raise TypeError("Optuna stores trial states differently")  # read as Optuna does

        def select(model: Any, *columns: str) -> tuple[str, list]:
            """The SELECT of ``columns`` from ``model``'s table and how to convert each."""
            table = model.__table__
            cols = [table.c[name] for name in columns]
            convert = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                       for c in cols]
            key = table.primary_key.columns.values()[0].name
            return (f"SELECT {', '.join(columns)} FROM {table.name} WHERE {{}} ORDER BY {key}",
                    convert)

        def upsert(model: Any, keys: tuple[str, ...], values: tuple[str, ...]) -> str:
            """INSERT of a row, whose ``values`` are replaced where its ``keys`` are there."""
            table = model.__table__
            for name in (*keys, *values):
                table.c[name]  # noqa: B018 - KeyError if Optuna renamed it
            columns = (*keys, *values)
            return (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' * len(columns))}) ON CONFLICT ({', '.join(keys)}) DO "
                    f"UPDATE SET {', '.join(f'{v} = excluded.{v}' for v in values)}")

        self.trials_sql = select(models.TrialModel, "trial_id", "number", "state",
                                 "datetime_start", "datetime_complete")
        self.children = {
            "params": select(models.TrialParamModel, "trial_id", "param_name", "param_value",
                             "distribution_json"),
            "values": select(models.TrialValueModel, "trial_id", "objective", "value",
                             "value_type"),
            "intermediate": select(models.TrialIntermediateValueModel, "trial_id", "step",
                                   "intermediate_value", "intermediate_value_type"),
            "user": select(models.TrialUserAttributeModel, "trial_id", "key", "value_json"),
            "system": select(models.TrialSystemAttributeModel, "trial_id", "key",
                             "value_json"),
        }
        self.study_sql = f"SELECT 1 FROM {models.StudyModel.__table__.name} WHERE study_id = ?"
        self.state_sql = f"SELECT state, study_id FROM {self.table} WHERE trial_id = ?"
        self.attr_sql = {
            kind: upsert(model, ("trial_id", "key"), ("value_json",))
            for kind, model in (("user", models.TrialUserAttributeModel),
                                ("system", models.TrialSystemAttributeModel))}
        self.intermediate_sql = upsert(models.TrialIntermediateValueModel, ("trial_id", "step"),
                                       ("intermediate_value", "intermediate_value_type"))
        # The database's clock, as Optuna's heartbeats and its check for stale ones use.
        self.heartbeat_sql = upsert(models.TrialHeartbeatModel, ("trial_id",), ("heartbeat",)
                                    ).replace("VALUES (?, ?)", "VALUES (?, CURRENT_TIMESTAMP)")
        trials = models.TrialModel.__table__
        self.stamp = trials.c.datetime_start.type.dialect_impl(dialect).bind_processor(dialect)
        self.new_trial_sql = (f"INSERT INTO {self.table} (study_id, number, state, "
                              f"datetime_start) VALUES (?, NULL, 'RUNNING', ?)")
        self.past_sql = f"SELECT COUNT(*) FROM {self.table} WHERE study_id = ? AND trial_id < ?"
        self.number_sql = f"UPDATE {self.table} SET number = ? WHERE trial_id = ?"
        self.update_state_sql = (f"UPDATE {self.table} SET state = ?, datetime_start = "
                                 f"COALESCE(?, datetime_start), datetime_complete = "
                                 f"COALESCE(?, datetime_complete) WHERE trial_id = ?")
        self.value_sql = upsert(models.TrialValueModel, ("trial_id", "objective"),
                                ("value", "value_type"))
        self.value_to_stored = models.TrialValueModel.value_to_stored_repr
        beats = models.TrialHeartbeatModel.__table__
        self.beats_sql = (f"SELECT t.trial_id, h.heartbeat FROM {self.table} t JOIN "
                          f"{beats.name} h ON h.trial_id = t.trial_id WHERE t.study_id = ? AND "
                          f"t.state = 'RUNNING' ORDER BY t.trial_id")
        self.clock = beats.c.heartbeat.type.dialect_impl(dialect).result_processor(dialect, None)
        self.count_sql = f"SELECT COUNT(*) FROM {self.table} WHERE study_id = ?"
        params = models.TrialParamModel.__table__
        self.param_sql = (f"INSERT INTO {params.name} (trial_id, param_name, param_value, "
                          f"distribution_json) VALUES (?, ?, ?, ?)")
        self.previous_sql = (f"SELECT p.distribution_json FROM {params.name} p JOIN "
                             f"{self.table} t ON p.trial_id = t.trial_id WHERE t.study_id = ? "
                             f"AND p.param_name = ? LIMIT 1")

    @classmethod
    def of(cls, storage: Storage) -> _SQLite:
        sql = storage.__dict__.get("_plain_sql")
        if sql is None:
            sql = storage.__dict__["_plain_sql"] = cls(storage)
        return sql

    def set_attrs(self, kind: str, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """User (``kind`` "user") or system attributes of a running trial."""
        rows = [(trial_id, key, json.dumps(value)) for key, value in attrs.items()]
        with self._writing(trial_id) as (cursor, _, _):
            cursor.executemany(self.attr_sql[kind], rows)

    def create_trial(self, study_id: int) -> optuna.trial.FrozenTrial:
        """``RDBStorage._create_new_trial`` without a template: a running trial numbered
        after the study's others (under the write lock, so two workers never share one)."""
        start = datetime.datetime.now()
        for attempt in range(1, 6):  # as Optuna's: a failed database gets five tries
            try:
                with self._connected() as connection:
                    cursor = connection.cursor()
                    cursor.execute("BEGIN IMMEDIATE")
                    if not cursor.execute(self.study_sql, (study_id,)).fetchone():
                        raise KeyError(self.not_found)
                    cursor.execute(self.new_trial_sql, (study_id, self.stamp(_utc(start))))
                    trial_id = cursor.lastrowid
                    number = cursor.execute(self.past_sql, (study_id, trial_id)).fetchone()[0]
                    cursor.execute(self.number_sql, (number, trial_id))
                    connection.commit()
                break
            except optuna.exceptions.StorageInternalError:
                if attempt == 5:
                    raise
                time.sleep(random.random() * 2.0)
        return optuna.trial.FrozenTrial(
            number=number, state=optuna.trial.TrialState.RUNNING, value=None, values=None,
            datetime_start=start, datetime_complete=None, params={}, distributions={},
            user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=trial_id)

    def set_state_values(self, trial_id: int, state: optuna.trial.TrialState,
                         values: Sequence[float] | None) -> bool:
        """``RDBStorage.set_trial_state_values``: False where a waiting trial was taken by
        another worker first."""
        try:
            with self._writing(trial_id) as (cursor, _, current):
                if values is not None:
                    cursor.executemany(self.value_sql, [
                        (trial_id, objective, *self._stored_value(v))
                        for objective, v in enumerate(values)])
                if state == optuna.trial.TrialState.RUNNING and current != "WAITING":
                    return False  # the values, if any, are still written (as Optuna's)
                now = self.stamp(_utc(datetime.datetime.now()))
                cursor.execute(self.update_state_sql, (
                    state.name, now if state == optuna.trial.TrialState.RUNNING else None,
                    now if state.is_finished() else None, trial_id))
        except sqlite3.IntegrityError:
            return False
        return True

    def _stored_value(self, value: float) -> tuple[float | None, str]:
        stored, kind = self.value_to_stored(value)
        return stored, kind.name

    def set_intermediate(self, trial_id: int, step: int, value: float) -> None:
        stored, kind = self.intermediate_to_stored(value)
        with self._writing(trial_id) as (cursor, _, _):
            cursor.execute(self.intermediate_sql, (trial_id, step, stored, kind.name))

    def set_param(self, trial_id: int, name: str, value: float, distribution: BaseDistribution,
                  previous: BaseDistribution | None) -> None:
        """``RDBStorage._set_trial_param``: ValueError, as Optuna's, for a distribution that
        the study's earlier trials did not have for this parameter."""
        from optuna.distributions import (
            check_distribution_compatibility,
            distribution_to_json,
            json_to_distribution,
        )

        with self._writing(trial_id) as (cursor, study_id, _):
            if previous is None:
                row = cursor.execute(self.previous_sql, (study_id, name)).fetchone()
                previous = json_to_distribution(row[0]) if row else None
            if previous is not None:
                check_distribution_compatibility(previous, distribution)
            try:
                cursor.execute(self.param_sql, (trial_id, name, value,
                                                distribution_to_json(distribution)))
            except sqlite3.IntegrityError:
                return  # the trial has it already: Optuna ignores the write too

    def count(self, study_id: int) -> int:
        return self._query(self.count_sql, (study_id,))[0][0]

    def stale_trial_ids(self, study_id: int, grace_seconds: int) -> list[int]:
        """``RDBStorage._get_stale_trial_ids``: running trials whose last heartbeat is older
        than ``grace_seconds`` by the database's clock."""
        rows = self._query(self.beats_sql, (study_id,))
        if not rows:
            return []
        now = self.clock(self._query("SELECT CURRENT_TIMESTAMP", ())[0][0])
        grace = datetime.timedelta(seconds=grace_seconds)
        return [trial_id for trial_id, beat in rows if now - self.clock(beat) > grace]

    def _query(self, text: str, args: Sequence[Any]) -> list[tuple]:
        with self._connected() as connection:
            return connection.cursor().execute(text, args).fetchall()

    def record_heartbeat(self, trial_id: int) -> None:
        """``RDBStorage.record_heartbeat``: the trial is alive now (any state, as Optuna's)."""
        with self._connected() as connection:
            connection.cursor().execute(self.heartbeat_sql, (trial_id,))
            connection.commit()

    @contextlib.contextmanager
    def _connected(self) -> Iterator[Any]:
        """A DBAPI connection from the storage's pool, returned with nothing left open."""
        connection = self.storage.engine.raw_connection()
        try:
            yield connection
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:  # as Optuna's session reports a database's failure
            raise optuna.exceptions.StorageInternalError(
                f"An exception is raised during the commit. {e}") from e
        finally:
            try:
                connection.rollback()  # ends a read; nothing is left to undo after a commit
            finally:
                connection.close()

    @contextlib.contextmanager
    def _writing(self, trial_id: int) -> Iterator[tuple[Any, int, str]]:
        """A transaction on a trial that may still be updated (Optuna's check and errors),
        committed if the block ends without an error: the cursor, the trial's study and its
        state's name."""
        with self._connected() as connection:
            if connection.dbapi_connection.in_transaction:
                connection.rollback()
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")  # the write lock now, not after the reads
            row = cursor.execute(self.state_sql, (trial_id,)).fetchone()
            if row is None:
                raise KeyError(self.not_found)
            self.storage.check_trial_is_updatable(trial_id, optuna.trial.TrialState[row[0]])
            yield cursor, row[1], row[0]
            connection.commit()

    def trials(self, study_id: int, states: Container[optuna.trial.TrialState] | None,
               included: set[int], greater_than: int) -> list[optuna.trial.FrozenTrial]:
        """``RDBStorage._get_trials``: the study's trials in ``states``, only those numbered
        in ``included`` or above ``greater_than`` where that is given; KeyError, as Optuna's,
        for a study that is not there."""
        where, args = "study_id = ?", [study_id]
        if states is not None:
            names = [s.name for s in states]  # type: ignore[attr-defined]
            where += f" AND state IN ({', '.join('?' * len(names))})"
            args += names
        included = {i for i in included if i <= greater_than}
        if included and greater_than > -1:
            where += f" AND (trial_id IN ({', '.join('?' * len(included))}) OR trial_id > ?)"
            args += [*sorted(included), greater_than]
        elif greater_than > -1:
            where += " AND trial_id > ?"
            args.append(greater_than)
        return self._read(where, args, study_id)

    def trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
        """``RDBStorage.get_trial``: KeyError, as Optuna's, for a trial that is not there."""
        found = self._read("trial_id = ?", [trial_id])
        if not found:
            raise KeyError(self.not_found)
        return found[0]

    def _read(self, where: str, args: list, study_id: int | None = None
              ) -> list[optuna.trial.FrozenTrial]:
        with self._connected() as connection:
            cursor = connection.cursor()
            if not connection.dbapi_connection.in_transaction:
                cursor.execute("BEGIN")
            rows = self._rows(cursor, self.trials_sql, where, args)
            if not rows:
                if study_id is not None and not cursor.execute(self.study_sql,
                                                               [study_id]).fetchone():
                    raise KeyError(self.not_found)
                return []
            inner = f"trial_id IN (SELECT trial_id FROM {self.table} WHERE {where})"
            children = {name: self._rows(cursor, sql, inner, args)
                        for name, sql in self.children.items()}
        return self._build(rows, children)

    @staticmethod
    def _rows(cursor: Any, sql: tuple[str, list], where: str, args: list) -> list[tuple]:
        text, convert = sql
        rows = cursor.execute(text.format(where), args).fetchall()
        if not any(convert):
            return rows
        return [tuple(f(v) if f else v for f, v in zip(convert, row)) for row in rows]

    def _build(self, rows: list[tuple], children: dict[str, list[tuple]]
               ) -> list[optuna.trial.FrozenTrial]:
        from optuna.distributions import json_to_distribution

        per: dict[str, dict[int, list[tuple]]] = {}
        for name, found in children.items():
            grouped = per[name] = {}
            for row in found:
                grouped.setdefault(row[0], []).append(row[1:])
        trials = []
        for trial_id, number, state, start, complete in rows:
            params = per["params"].get(trial_id, [])
            distributions = {name: json_to_distribution(text) for name, _, text in params}
            values = sorted(per["values"].get(trial_id, []))
            trials.append(optuna.trial.FrozenTrial(
                number=number, state=state, value=None,
                values=[self.value(v, kind) for _, v, kind in values] if values else None,
                datetime_start=_local(start), datetime_complete=_local(complete),
                params={name: distributions[name].to_external_repr(v)
                        for name, v, _ in params},
                distributions=distributions,
                user_attrs={k: json.loads(v) for k, v in per["user"].get(trial_id, [])},
                system_attrs={k: json.loads(v) for k, v in per["system"].get(trial_id, [])},
                intermediate_values={step: self.intermediate(v, kind)
                                     for step, v, kind in per["intermediate"].get(trial_id, [])},
                trial_id=trial_id,
            ))
        return trials


def _backend(study: optuna.Study) -> Any:
    """The storage a study was opened with (Optuna wraps an RDB storage in a cache)."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for each item, in one write where the storage is hpo's (any
    trial with a ``set_user_attr``, ``optuna.trial.FixedTrial`` too)."""
    study = getattr(trial, "study", None)  # a FixedTrial has none
    backend = _backend(study) if study is not None else None
    if isinstance(backend, Storage) and len(attrs) > 1:
        try:
            backend.set_trial_user_attrs(trial._trial_id, attrs)
            trial._cached_frozen_trial.user_attrs.update(attrs)  # what trial.user_attrs returns
            return
        except _MOVED:
            pass
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def stored_trials(study: optuna.Study) -> int:
    """How many trials ``study`` holds in any state, the waiting ones included: a bound on
    ``count_claimed`` that costs one COUNT query where the storage is hpo's."""
    backend = _backend(study)
    if isinstance(backend, Storage):
        try:
            return backend.count_trials(study._study_id)
        except _MOVED:
            pass
    return len(study.get_trials(deepcopy=False))


def open_storage(url: str) -> Storage:
    """An RDB storage that survives crashes and several writers.

    Heartbeats mark trials of dead workers as failed, and the retry callback re-queues them with
    the same params. SQLite waits for a lock instead of failing ("database is locked") and runs
    in WAL mode, so readers (the dashboard, other workers) do not block the writer.
    """
    interval = heartbeat_seconds()
    sqlite = make_url(url).drivername.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    try:
        storage = _create_tables_once(lambda: Storage(
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
            # Plain SQL where SQLite has upserts (3.24, 2018; Python bundles newer).
            storage.plain_sql = (storage.engine.dialect.driver == "pysqlite"
                                 and sqlite3.sqlite_version_info >= (3, 24))
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ImportError) as e:
        raise StorageError(f"cannot open storage {mask(url)!r}: {_without_secrets(e, url)}") \
            from None
    return storage


def _sync_normal(dbapi_connection: Any) -> None:
    # In WAL mode, NORMAL syncs at checkpoints instead of at every commit (SQLite's advice for
    # WAL): a trial's dozen small writes stop costing a disk flush each. A committed trial
    # survives a crash of the process; only an OS crash or power cut can lose the last ones.
    dbapi_connection.cursor().execute("PRAGMA synchronous=NORMAL")


def _create_tables_once(
    make: Callable[[], Storage], attempts: int = 6
) -> Storage:
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
    return sum(t.state.name in _FINISHED and _counts(t, retried) for t in trials)


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


_FINISHED = ("COMPLETE", "PRUNED", "FAIL")


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


def dashboard_command(url: str) -> str:
    return f"optuna-dashboard {mask(url)}"


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
