from __future__ import annotations

import optuna
import pytest

from hpo.errors import StorageError
from hpo.storage import check_url, mask, open_study


@pytest.mark.parametrize("url, fragment", [
    ("not a url", "malformed storage URL"),
    ("sqlite//hpo.db", "malformed storage URL"),
    ("nosuchdb://host/db", "unknown database 'nosuchdb'"),
    ("sqlite://", "names no database file"),
])
def test_bad_storage_urls_are_refused_before_anything_is_written(tmp_path, monkeypatch, url,
                                                                   fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=fragment):
        check_url(url)
    assert list(tmp_path.iterdir()) == []


def test_good_urls_pass():
    assert check_url("sqlite:///hpo.db") == "sqlite:///hpo.db"


def test_mask_hides_the_password():
    assert mask("postgresql://ann:s3cret@db.example/hpo") == "postgresql://ann:***@db.example/hpo"
    assert "s3cret" not in mask("::ann:s3cret@weird")


def test_resuming_a_study_made_on_other_data_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    identity = {"dataset": "digits", "space": {"units": "Choice(8, 16)", "dropout": "0.1"}}
    open_study(url, "s", ["maximize"], identity)
    assert open_study(url, "s", ["maximize"], identity).user_attrs["dataset"] == "digits"
    expected = "dataset = 'digits', but this run has dataset = 'mnist'"
    with pytest.raises(StorageError, match=expected):
        open_study(url, "s", ["maximize"], {**identity, "dataset": "mnist"})
    changed = {**identity, "space": {"units": "Choice(8, 32)", "dropout": "0.1"}}
    with pytest.raises(StorageError, match=r"different \[space\] \(changed: units\).*delete-study"):
        open_study(url, "s", ["maximize"], changed)


def test_resuming_a_study_with_other_objectives_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    study = open_study(url, "s", ["maximize", "minimize"], {"objectives": ["accuracy", "n_params"]},
                       metric_names=["val_accuracy", "n_params"])
    assert study.metric_names == ["val_accuracy", "n_params"]
    # Directions catch it even without the identity (a study made before objectives existed).
    with pytest.raises(StorageError, match="made to maximize and minimize, but this run would "
                                           "maximize .*delete-study"):
        open_study(url, "s", ["maximize"], {})
    with pytest.raises(StorageError, match="objectives = "):
        open_study(url, "s", ["maximize", "minimize"], {"objectives": ["accuracy", "seconds"]})


def test_count_finished_leaves_out_requeued_and_interrupted_trials(tmp_path):
    from optuna.trial import TrialState, create_trial

    from hpo.storage import INTERRUPTED, count_finished

    study = open_study(f"sqlite:///{tmp_path / 'c.db'}", "c", ["maximize"], {})
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5))
    study.add_trial(create_trial(state=TrialState.PRUNED))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "diverged"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": INTERRUPTED}))
    study.add_trial(create_trial(state=TrialState.FAIL))  # a dead worker's trial ...
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.6,  # ... and its re-run
                                 system_attrs={"failed_trial": 4, "retry_history": [4]}))
    assert count_finished(study) == 4


def test_sqlite_storage_runs_in_wal_mode_with_a_lock_timeout(tmp_path):
    import sqlite3

    from hpo.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'w.db'}")
    with sqlite3.connect(tmp_path / "w.db") as connection:  # a new reader sees the file's mode
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert storage.heartbeat_interval >= 1 and storage.grace_period > storage.heartbeat_interval


def test_connection_errors_do_not_show_the_password():
    from hpo.storage import open_storage

    with pytest.raises(StorageError) as info:
        open_storage("postgresql://ann:topsecret@127.0.0.1:1/db")  # nothing listens on port 1
    assert "topsecret" not in str(info.value) and "ann:***@" in str(info.value)


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_user_attributes_written_together_read_back_as_written_one_by_one(tmp_path, where):
    import optuna

    from hpo.storage import set_user_attrs

    study = (open_study(f"sqlite:///{tmp_path / 'a.db'}", "a", ["maximize"], {})
             if where == "sqlite" else optuna.create_study(direction="maximize"))
    trial = study.ask()
    trial.set_user_attr("epochs", 1)
    attrs = {"epochs": 3, "history": {"val_accuracy": [0.5, 0.75]}, "n_params": None}
    set_user_attrs(trial, attrs)
    assert trial.user_attrs == attrs  # the running trial's own view
    study.tell(trial, 0.75)
    assert study.trials[0].user_attrs == attrs
    if where == "sqlite":  # and a new process reading the file
        again = optuna.load_study(study_name="a", storage=f"sqlite:///{tmp_path / 'a.db'}")
        assert again.trials[0].user_attrs == attrs


def test_stored_trials_counts_every_state_waiting_included(tmp_path):
    import optuna
    from optuna.trial import TrialState, create_trial

    from hpo.storage import stored_trials

    for study in (open_study(f"sqlite:///{tmp_path / 's.db'}", "s", ["maximize"], {}),
                  optuna.create_study(direction="maximize")):
        assert stored_trials(study) == 0
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5))
        study.add_trial(create_trial(state=TrialState.FAIL))
        study.enqueue_trial({"x": 1})
        study.enqueue_trial({"x": 2})
        study.ask()  # runs the first queued one; the second waits
        states = [t.state for t in study.trials]
        assert TrialState.RUNNING in states and TrialState.WAITING in states
        assert stored_trials(study) == len(states) == 4


@pytest.mark.parametrize("error", [
    ImportError("cannot import name '_create_scoped_session'"),  # moved
    TypeError("_set_trial_attr_without_commit() missing 1 required positional argument"),
])
def test_without_optunas_internals_the_shortcuts_fall_back_to_its_public_calls(tmp_path,
                                                                               monkeypatch,
                                                                               error):
    from hpo.storage import Storage, set_user_attrs, stored_trials

    def moved(*args, **kwargs):
        raise error

    monkeypatch.setattr(Storage, "set_trial_user_attrs", moved)
    monkeypatch.setattr(Storage, "count_trials", moved)
    study = open_study(f"sqlite:///{tmp_path / 'f.db'}", "f", ["maximize"], {})
    trial = study.ask()
    set_user_attrs(trial, {"epochs": 2, "seed": 7})
    assert study.trials[0].user_attrs == {"epochs": 2, "seed": 7}
    assert stored_trials(study) == 1


def test_a_fixed_trial_takes_the_attributes_too():
    from hpo.storage import set_user_attrs

    trial = optuna.trial.FixedTrial({"units": 8})  # has no study
    set_user_attrs(trial, {"epochs": 2, "seed": 7})
    assert trial.user_attrs == {"epochs": 2, "seed": 7}


def _varied_study(url: str, plain_sql: bool = True) -> optuna.Study:
    """A study holding trials in every state, with what Optuna stores specially: infinite and
    NaN values, categorical None, log ints, user and system attributes, a queued trial;
    written in plain SQL or (``plain_sql=False``) by Optuna's own code."""
    from optuna.trial import TrialState, create_trial

    from hpo.storage import open_storage

    storage = open_storage(url)
    storage.plain_sql = plain_sql
    study = optuna.create_study(storage=storage, study_name="v",
                                directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(6):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_categorical("act", ["relu", None, 3])
        trial.suggest_int("units", 8, 512, log=True)
        trial.set_user_attr("history", {"loss": [1.0, None], "i": i})
        trial.storage.set_trial_system_attr(trial._trial_id, "tag", [i, "x"])
        state = [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING][i % 3]
        if state == TrialState.COMPLETE:
            study.tell(trial, [float("inf") if i else 0.5, -float("inf") if i else 2.0])
        elif state == TrialState.FAIL:
            study.tell(trial, state=TrialState.FAIL)
    single = optuna.create_study(storage=study._storage, study_name="s", direction="maximize")
    trial = single.ask()
    for step, value in enumerate([0.5, float("nan"), float("inf"), -float("inf")]):
        trial.report(value, step)
    trial.storage.set_trial_intermediate_value(trial._trial_id, 1, 0.75)  # a step rewritten
    trial.set_user_attr("history", [1])
    trial.set_user_attr("history", {"loss": [2]})  # an attribute rewritten
    single.tell(trial, state=TrialState.PRUNED)
    single.add_trial(create_trial(state=TrialState.COMPLETE, value=0.25, params={"x": 2},
                                  distributions={"x": optuna.distributions.IntDistribution(
                                      1, 3)}))
    single.enqueue_trial({"x": 1})
    return study


def test_trials_read_straight_from_sqlite_are_the_ones_optuna_reads(tmp_path):
    from optuna.trial import TrialState

    from hpo.storage import Storage

    url = f"sqlite:///{tmp_path / 'v.db'}"
    storage = _varied_study(url)._storage._backend
    assert storage.plain_sql

    def both(read, *args):
        storage.plain_sql = True
        fast = read(*args)
        storage.plain_sql = False
        try:
            return fast, read(*args)
        finally:
            storage.plain_sql = True

    # repr: field by field, NaN equal to NaN, and the same order within each mapping.
    for study_id in (storage.get_study_id_from_name("v"), storage.get_study_id_from_name("s")):
        for states in (None, (TrialState.RUNNING,), (TrialState.COMPLETE, TrialState.WAITING)):
            for included, above in (((), -1), ({2, 4, 99}, 3), ((), 2)):
                fast, optunas = both(Storage._get_trials, storage, study_id, states,
                                     set(included), above)
                assert repr(fast) == repr(optunas)
    fast, optunas = both(lambda: [storage.get_trial(i) for i in range(1, 10)])
    assert repr(fast) == repr(optunas) and len(fast) == 9
    assert {t.state for t in fast} == set(TrialState)
    for read in (lambda: storage.get_trial(999), lambda: storage.get_all_trials(999)):
        with pytest.raises(KeyError):
            read()
    # And through Optuna's cache, as a study reads them.
    again = optuna.load_study(study_name="v", storage=url)
    assert repr(optuna.load_study(study_name="v", storage=storage).trials) == repr(again.trials)


@pytest.mark.parametrize("error", [
    AttributeError("type object 'TrialModel' has no attribute '__table__'"),
    KeyError("param_value"),  # a column renamed
])
def test_plain_sql_falls_back_to_optunas_code_when_its_tables_changed(tmp_path, monkeypatch, error):
    from hpo.storage import _SQLite

    storage = _varied_study(f"sqlite:///{tmp_path / 'm.db'}")._storage._backend

    def moved(*args, **kwargs):
        raise error

    monkeypatch.setattr(_SQLite, "__init__", moved)
    storage.__dict__.pop("_plain_sql", None)
    assert len(storage.get_all_trials(storage.get_study_id_from_name("v"))) == 6
    assert storage.plain_sql is False


def test_rows_written_in_plain_sql_are_the_ones_optuna_writes(tmp_path):
    import sqlite3

    for plain in (True, False):
        _varied_study(f"sqlite:///{tmp_path / f'{plain}.db'}", plain_sql=plain)

    def rows(plain):
        with sqlite3.connect(tmp_path / f"{plain}.db") as db:
            found = {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                     for table in ("trial_params", "trial_intermediate_values", "trial_values",
                                   "trial_user_attributes", "trial_system_attributes")}
            found["trials"] = db.execute(  # the times: in SQLAlchemy's format, and when set
                "SELECT trial_id, number, study_id, state, datetime_start GLOB ?, "
                "datetime_complete GLOB ?, datetime_complete IS NULL FROM trials ORDER BY 1",
                ["[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
                 ".[0-9][0-9][0-9][0-9][0-9][0-9]"] * 2).fetchall()
            return found

    plain, optunas = rows(True), rows(False)
    assert plain == optunas
    assert [r[1:4] for r in plain["trials"]] == [
        (0, 1, "COMPLETE"), (1, 1, "FAIL"), (2, 1, "RUNNING"), (3, 1, "COMPLETE"),
        (4, 1, "FAIL"), (5, 1, "RUNNING"), (0, 2, "PRUNED"), (1, 2, "COMPLETE"),
        (2, 2, "WAITING")]
    assert [r[4:] for r in plain["trials"]][:3] == [(1, 1, 0), (1, 1, 0), (1, None, 1)]
    assert len(plain["trial_intermediate_values"]) == 4 and len(plain["trial_params"]) == 19
    assert ("trial_intermediate_values", (2, 7, 1, 0.75, "FINITE")) in [
        (t, r) for t, found in plain.items() for r in found]


def test_plain_sql_refuses_what_optuna_refuses_and_writes_nothing_then(tmp_path):
    from optuna.distributions import FloatDistribution
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    errors = {}
    for plain in (True, False):
        study = _varied_study(f"sqlite:///{tmp_path / f'{plain}.db'}", plain_sql=plain)
        storage = study._storage._backend
        storage.__dict__.pop("_plain_sql", None)
        done = study.trials[0]._trial_id  # complete
        running = study.trials[2]._trial_id
        found = []
        for name, *args in (("set_trial_user_attr", done, "late", 1),
                            ("set_trial_system_attr", done, "late", 1),
                            ("set_trial_intermediate_value", done, 9, 0.5),
                            ("set_trial_param", done, "new", 0.5, FloatDistribution(0, 1)),
                            ("set_trial_state_values", done, TrialState.FAIL),
                            ("set_trial_user_attr", 999, "a", 1),
                            # lr was searched on a log scale in the study's earlier trials.
                            ("set_trial_param", running, "lr", 0.5, FloatDistribution(0, 1))):
            with pytest.raises((UpdateFinishedTrialError, KeyError, ValueError)) as info:
                getattr(storage, name)(*args)
            found.append((type(info.value), str(info.value)))
        # A running trial cannot be started again (a queued one taken by another worker).
        found.append(storage.set_trial_state_values(running, TrialState.RUNNING))
        errors[plain] = found
        assert "late" not in storage.get_trial(done).user_attrs
        assert "lr" in storage.get_trial(running).params  # its own, still the only one
        assert "new" not in storage.get_trial(done).params
    assert errors[True] == errors[False]


def test_heartbeats_in_plain_sql_are_optunas_rows_and_show_stale_trials(tmp_path):
    import re
    import sqlite3

    from hpo.storage import open_storage

    found = {}
    for plain in (True, False):
        path = tmp_path / f"{plain}.db"
        storage = open_storage(f"sqlite:///{path}")
        storage.plain_sql = plain
        study = optuna.create_study(storage=storage, study_name="h")
        fresh, old = study.ask(), study.ask()
        for trial in (fresh, old, fresh):  # the second beat of a trial replaces its first
            storage.record_heartbeat(trial._trial_id)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00' "
                       "WHERE trial_id = ?", (old._trial_id,))
            rows = db.execute("SELECT trial_id, heartbeat FROM trial_heartbeats "
                              "ORDER BY trial_id").fetchall()
        assert [r[0] for r in rows] == [fresh._trial_id, old._trial_id]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0][1])
        found[plain] = storage._get_stale_trial_ids(study._study_id)
        study.tell(old, state=optuna.trial.TrialState.FAIL)  # a finished trial is not stale
        assert storage._get_stale_trial_ids(study._study_id) == []
    assert found[True] == found[False] == [2]


def test_times_are_stored_in_utc_and_read_in_local_time_as_optuna_does(tmp_path, monkeypatch):
    import datetime
    import time

    from hpo.storage import open_storage

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no summer time
    time.tzset()
    try:
        storage = open_storage(f"sqlite:///{tmp_path / 'z.db'}")
        study = optuna.create_study(storage=storage, study_name="z")
        for plain in (True, False):  # a trial written each way
            storage.plain_sql = plain
            study.tell(study.ask(), 0.5)
        before = datetime.datetime.now()
        for plain in (True, False):  # and each read both ways
            storage.plain_sql = plain
            trials = [storage.get_trial(i) for i in (1, 2)]
            for trial in trials:
                for when in (trial.datetime_start, trial.datetime_complete):
                    assert abs((before - when).total_seconds()) < 60  # local, not 9 h off
        import sqlite3
        with sqlite3.connect(tmp_path / "z.db") as db:
            stored = [datetime.datetime.fromisoformat(row[0]) for row in
                      db.execute("SELECT datetime_start FROM trials ORDER BY trial_id")]
        utc = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        assert all(abs((utc - when).total_seconds()) < 60 for when in stored)
    finally:
        monkeypatch.undo()
        time.tzset()
