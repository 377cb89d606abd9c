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


def test_a_fixed_trial_takes_the_attributes_too():
    from hpo.record import set_user_attrs

    trial = optuna.trial.FixedTrial({"units": 8})  # has no study
    set_user_attrs(trial, {"epochs": 2, "seed": 7})
    assert trial.user_attrs == {"epochs": 2, "seed": 7}



# -- Optuna's own storage tests, run on the storage hpo opens ---------------------------------
# They ship with the installed Optuna (optuna.testing); nothing is vendored. Where a release
# drops them, the cases below still hold the ones hpo depends on most.
pytest_storages = pytest.importorskip("optuna.testing.pytest_storages")


class TestOptunasStorageCasesOnHposSQLite(pytest_storages.StorageTestCase):
    @pytest.fixture
    def storage(self, tmp_path):
        from hpo.storage import open_storage

        storage = open_storage(f"sqlite:///{tmp_path / 'optuna-cases.db'}")
        yield storage
        storage.remove_session()
        storage.engine.dispose()


def _storage(tmp_path, name="s.db"):
    from hpo.storage import open_storage

    return open_storage(f"sqlite:///{tmp_path / name}")


def test_trials_read_by_many_ids_at_once(tmp_path):
    """More trial ids than SQLite takes as variables of one query (32 766): Optuna's cache asks
    for the unfinished ones by id, so a long study with many running trials needs this."""
    from optuna.trial import TrialState

    storage = _storage(tmp_path)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "many")
    ids = [storage.create_new_trial(study_id) for _ in range(40)]
    for trial_id in ids[::2]:
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    many = set(ids[::2]) | set(range(10_000_000, 10_040_000))  # ids that are not there too
    read = storage._get_trials(study_id, None, many, max(ids))  # as _CachedStorage calls it
    assert sorted(t._trial_id for t in read) == ids[::2]


def test_a_study_on_hpos_storage_pickles_after_writes(tmp_path):
    """A study goes to another process (multiprocessing, joblib): its storage must pickle once
    trials were written, and the copy must read and write the same file."""
    import pickle

    from hpo.storage import open_study

    study = open_study(f"sqlite:///{tmp_path / 'p.db'}", "p", ["maximize"], {"dataset": "d"})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.report(0.5, 1)
    trial.set_user_attr("epochs", 1)
    study.tell(trial, 0.5)
    copy = pickle.loads(pickle.dumps(study))
    copy.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.trials[0].intermediate_values == {1: 0.5}


def _two_trials(url: str) -> None:
    from hpo.storage import open_study

    study = open_study(url, "shared", ["minimize"], {"dataset": "d"})
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=2)


def test_two_processes_write_one_sqlite_file(tmp_path):
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'two.db'}"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_two_trials, args=(url,)) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0, 0]
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]


def test_hpos_storage_is_optunas_own():
    """No subclass, no method of Optuna's replaced: what Optuna's tests cover is what runs."""
    import inspect

    import hpo.storage

    source = inspect.getsource(hpo.storage)
    assert "RDBStorage)" not in source  # not subclassed
    assert "SELECT " not in source and "INSERT " not in source and "UPDATE " not in source
