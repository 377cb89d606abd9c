"""Many workers on one study, crashes and Ctrl-C: nothing lost, nothing left RUNNING."""

from __future__ import annotations

import os
import re
import signal

import optuna
import pytest
from conftest import TINY_STUDY, run_hpo, start_hpo, wait_for

from hpo.storage import count_finished

pytestmark = pytest.mark.slow

FAST = TINY_STUDY.replace("max_epochs = 2", "max_epochs = 1").replace("units = [8, 16]",
                                                                      "units = 8")
# Trials long enough (a few seconds each) to be caught mid-way by a signal.
LONG = TINY_STUDY.replace("max_epochs = 2", "max_epochs = 40").replace(
    "batch_size = 64", "batch_size = 8")


def write_study(tmp_path, text, name="w"):
    path = tmp_path / "studies" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return name


def load(url, name="w"):
    return optuna.load_study(study_name=name, storage=url)


def trials_so_far(url, name="w"):
    """The study's trials while hpo may still be creating its tables: [] until it is there."""
    try:
        return load(url, name).get_trials()
    except Exception:  # noqa: BLE001 - not created yet, or tables half made
        return []


def assert_all_accounted_for(study, target):
    trials = study.get_trials()
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)
    assert count_finished(study) == target


def test_four_workers_share_one_sqlite_study_without_lock_errors(tmp_path):
    name = write_study(tmp_path, FAST)
    result = run_hpo(["--study", name, "--trials", "40", "--workers", "4", "--no-final"],
                     tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "database is locked" not in result.stderr
    study = load(f"sqlite:///{tmp_path / 'hpo.db'}")
    trials = study.get_trials()
    assert len(trials) == 40
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert sorted(t.number for t in trials) == list(range(40))
    assert {t.user_attrs["worker"] for t in trials} == {0, 1, 2, 3}
    # The progress shown by the command sums the workers' trials.
    assert "[40/40]" in result.stderr


POSTGRES = os.environ.get("HPO_TEST_POSTGRES_URL")


@pytest.mark.skipif(not POSTGRES, reason="HPO_TEST_POSTGRES_URL is not set (.ci/run starts a "
                    "PostgreSQL server and sets it)")
def test_three_workers_share_a_postgresql_study_and_the_password_stays_secret(tmp_path):
    import sqlalchemy

    name = f"pg_{os.getpid()}_{tmp_path.name}"[:60].replace("-", "_")
    write_study(tmp_path, FAST, name)
    password = sqlalchemy.engine.make_url(POSTGRES).password
    assert password, "the test URL should carry a password"
    result = run_hpo(["--study", name, "--trials", "9", "--workers", "3",
                      "--storage", POSTGRES], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(POSTGRES, name)
    assert_all_accounted_for(study, 9)
    assert {t.user_attrs["worker"] for t in study.trials} == {0, 1, 2}
    export = run_hpo(["--study", name, "--storage", POSTGRES, "--top", "2"], tmp_path,
                     module="hpo.export")
    assert export.returncode == 0, export.stderr
    written = [p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file()
               and p.suffix in (".json", ".yaml")]
    assert len(written) == 3  # best.json and two exported configs
    for text in [result.stdout, result.stderr, export.stdout, export.stderr, *written]:
        assert password not in text
    assert "***" in result.stdout  # the printed storage URL and dashboard command are masked


def worker_pids(tmp_path):
    text = (tmp_path / "err.log").read_text()
    return {int(i): int(p) for i, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", text)}


def test_a_killed_worker_s_trial_is_requeued_and_completed(tmp_path):
    name = write_study(tmp_path, LONG)
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    env = {"HPO_HEARTBEAT": "1"}  # taken for dead after 4 s of silence
    proc = start_hpo(["--study", name, "--trials", "4", "--workers", "2", "--no-final"],
                     tmp_path, env)
    try:
        def running_trial_of_worker_0():
            if not (tmp_path / "hpo.db").exists() or 0 not in worker_pids(tmp_path):
                return None
            running = [t for t in trials_so_far(url) if t.state.name == "RUNNING"
                       and t.user_attrs.get("worker") == 0 and "n_params" in t.user_attrs]
            return running[0] if running else None

        victim = wait_for(running_trial_of_worker_0, 180, "worker 0 to train a trial")
        os.kill(worker_pids(tmp_path)[0], signal.SIGKILL)
        assert proc.wait(timeout=400) == 0, (tmp_path / "err.log").read_text()[-3000:]
    finally:
        proc.kill()
    study = load(url)
    trials = study.get_trials()
    assert trials[victim.number].state.name == "FAIL"
    reruns = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(reruns) == 1 and reruns[0].state.name == "COMPLETE"
    assert reruns[0].params == victim.params == trials[victim.number].params
    assert_all_accounted_for(study, 4)
    assert "worker 0 died" in (tmp_path / "err.log").read_text()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path, workers):
    name = write_study(tmp_path, LONG)
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    proc = start_hpo(["--study", name, "--trials", "3", "--workers", workers], tmp_path)
    try:
        wait_for(lambda: any(t.state.name == "RUNNING" for t in trials_so_far(url)), 180,
                 "a running trial")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    err = (tmp_path / "err.log").read_text()
    assert "Traceback" not in err and "interrupted" in err
    study = load(url)
    assert all(t.state.name != "RUNNING" for t in study.get_trials())
    assert count_finished(study) < 3

    again = run_hpo(["--study", name, "--trials", "3", "--workers", workers, "--no-final",
                     "--epochs", "2"], tmp_path, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    assert count_finished(load(url)) == 3


def test_trials_are_shared_evenly_between_workers():
    from hpo.workers import split

    assert split(10, 4) == [3, 3, 2, 2] and split(2, 3) == [1, 1, 0] and sum(split(40, 4)) == 40


def test_two_commands_on_one_study_stop_at_the_requested_count(tmp_path):
    # As on two machines sharing a storage: each plans the whole count, together they run it.
    name = write_study(tmp_path, FAST)
    args = ["--study", name, "--trials", "10", "--workers", "2", "--no-final"]
    first = start_hpo(args, tmp_path)
    try:
        second = run_hpo(args, tmp_path, timeout=600)
        assert first.wait(timeout=600) == 0
    finally:
        first.kill()
    assert second.returncode == 0, second.stderr[-3000:]
    study = load(f"sqlite:///{tmp_path / 'hpo.db'}")
    assert_all_accounted_for(study, 10)
    extra = [t for t in study.trials if t.user_attrs.get("fail_reason") == "not needed"]
    assert len(extra) <= 3  # at most one per worker that lost a race, recorded and not counted


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials made by hand, not optimize
def test_a_stopped_worker_never_leaves_its_trial_running(tmp_path):
    # A worker killed after Ctrl-C (it did not stop within a minute) leaves its trial RUNNING,
    # and so does one interrupted between creating a trial and its first write (no tag yet):
    # the supervisor records both as interrupted. Other machines' running trials are left alone.
    import datetime
    import multiprocessing

    from hpo.search import process_tag
    from hpo.storage import INTERRUPTED, open_storage, open_study
    from hpo.workers import Supervisor, _Worker

    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    storage = open_storage(url)
    study = open_study(url, "w", ["maximize"], {}, storage=storage)
    dead = multiprocessing.get_context("spawn").Process(target=os.getpid)
    dead.start()
    dead.join()
    older = study.ask()  # another machine's, started before this run, not yet tagged
    started = datetime.datetime.now()
    ours, theirs, untagged = study.ask(), study.ask(), study.ask()
    ours.set_user_attr("process", process_tag(dead.pid))
    theirs.set_user_attr("process", "elsewhere:1")
    supervisor = Supervisor(None, study, storage, 2, 1, lambda *a: None,
                            workers={0: _Worker(dead, 1)})
    supervisor._started = started
    supervisor._interrupt()
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {older.number: "RUNNING", ours.number: "FAIL", theirs.number: "RUNNING",
                      untagged.number: "FAIL"}
    assert study.trials[ours.number].user_attrs["fail_reason"] == INTERRUPTED
    assert count_finished(study) == 0  # an interrupted trial is run again on resume
