"""A killed trial loses at most one epoch: checkpoints each epoch, resumed trials, takeovers."""

from __future__ import annotations

import json
import signal

import numpy as np
import optuna
import pytest
from conftest import run_hpo, start_hpo, wait_for

from hpo import record
from hpo.checkpoints import CheckpointStore
from hpo.final import SEED_STRIDE

pytestmark = pytest.mark.slow

STUDY = """
family = "mlp"
seed = 7
final_seeds = 1
enqueue = []

[data]
dataset = "digits"
validation_size = 0.2

[budget]
trials = {trials}
max_epochs = 10
patience = 0

[sampler]
name = "random"

[pruner]
name = "none"

[space]
optimizer = "adam"
learning_rate = 0.001
batch_size = 8
n_layers = 2
units = 256
dropout = 0.2
"""


def write_study(tmp_path, trials=1):
    path = tmp_path / "studies" / "steady.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(STUDY.format(trials=trials))
    return path


def checkpoint_epoch(tmp_path, db, trial=0):
    saved = CheckpointStore(tmp_path / f"{db}.checkpoints", "steady").load(f"trial-{trial}")
    return saved.epoch if saved else 0


def kill_after(tmp_path, args, db, epochs, sig=signal.SIGKILL):
    proc = start_hpo(args, tmp_path)
    try:
        wait_for(lambda: checkpoint_epoch(tmp_path, db) >= epochs, 240,
                 f"trial 0's checkpoint of epoch {epochs}", interval=0.05)
    finally:
        proc.send_signal(sig)
        proc.wait(60)
    return checkpoint_epoch(tmp_path, db)


def trials_of(tmp_path, db):
    return optuna.load_study(study_name="steady",
                             storage=f"sqlite:///{tmp_path / db}").get_trials()


def test_a_killed_trial_resumes_from_its_checkpoint_with_the_same_scores(tmp_path):
    write_study(tmp_path)
    full = run_hpo(["--study", "steady", "--storage", "sqlite:///full.db", "--no-final"],
                   tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    args = ["--study", "steady", "--storage", "sqlite:///cut.db", "--no-final"]
    kept = kill_after(tmp_path, args, "cut.db", 3)
    assert 3 <= kept < 10
    again = run_hpo(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trial 0: its process is gone; queued to resume" in again.stdout
    assert f"trial 1 resumed at epoch {kept + 1} ({kept} epochs kept)" in again.stderr + \
        again.stdout
    dead, resumed = trials_of(tmp_path, "cut.db")
    assert dead.state.name == "FAIL" and dead.user_attrs["fail_reason"].startswith(
        "worker died: process ")
    assert resumed.state.name == "COMPLETE"
    assert resumed.user_attrs["resumed"] == {"from": 0, "at_epoch": kept + 1, "kept": kept}
    reference = trials_of(tmp_path, "full.db")[0]
    scores = resumed.user_attrs["history"]["val_accuracy"]
    assert len(scores) == 10  # no epoch trained twice, none lost
    np.testing.assert_allclose(scores, reference.user_attrs["history"]["val_accuracy"],
                               atol=5e-5)
    assert resumed.value == pytest.approx(reference.value, abs=5e-5)
    assert not (tmp_path / "cut.db.checkpoints" / "steady" / "trial-0.npz").exists()


def test_kill_9_then_the_same_command_at_once_completes_both_trials(tmp_path):
    write_study(tmp_path, trials=2)
    args = ["--study", "steady", "--no-final"]
    kill_after(tmp_path, args, "hpo.db", 1)
    again = run_hpo(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = trials_of(tmp_path, "hpo.db")
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 2 and "RUNNING" not in states
    assert all(t.user_attrs.get("fail_reason") for t in trials if t.state.name == "FAIL")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_trial_resumes_on_the_next_run(tmp_path, sig):
    write_study(tmp_path)
    args = ["--study", "steady", "--no-final"]
    kept = kill_after(tmp_path, args, "hpo.db", 2, sig)
    assert kept >= 2
    again = run_hpo(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trial 0 was interrupted; queued to resume" in again.stdout
    interrupted, resumed = trials_of(tmp_path, "hpo.db")
    assert interrupted.user_attrs["fail_reason"] == "interrupted"
    assert interrupted.user_attrs["signal"] == sig.name
    assert resumed.state.name == "COMPLETE" and resumed.user_attrs["resumed"]["kept"] == kept
    assert len(resumed.user_attrs["history"]["val_accuracy"]) == 10


def test_an_interrupted_final_step_keeps_the_seeds_already_tested(tmp_path):
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace("final_seeds = 1", "final_seeds = 3"))
    first = record.trial_seed(7, 0)
    second = first + SEED_STRIDE
    folder = tmp_path / "hpo.db.checkpoints" / "steady"
    proc = start_hpo(["--study", "steady"], tmp_path)
    try:
        wait_for(lambda: (folder / f"final-0-{second}.npz").exists(), 240,
                 "the second seed's retrain checkpoint", interval=0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    again = run_hpo(["--study", "steady"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert "keeping 1 retrain(s) already tested (first)" in log
    assert f"(seed {first})" not in log  # the first seed is not retrained
    assert f"final-0-{second} resumed at epoch " in log
    best = json.loads((tmp_path / "runs" / "steady" / "best.json").read_text())
    assert len(best["test_scores"]) == 3 and best["seeds"][:2] == [first, second]
    assert not list(folder.glob("final-*.npz"))


def test_a_killed_worker_s_trial_is_taken_over_and_resumed(tmp_path):
    import os

    write_study(tmp_path, trials=2)
    proc = start_hpo(["--study", "steady", "--workers", "2", "--no-final"], tmp_path)
    try:
        wait_for(lambda: checkpoint_epoch(tmp_path, "hpo.db") >= 2, 240,
                 "trial 0's checkpoint of epoch 2", interval=0.05)
        (trial,) = [t for t in trials_of(tmp_path, "hpo.db") if t.number == 0]
        os.kill(int(trial.user_attrs["process"].rpartition(":")[2]), signal.SIGKILL)
        assert proc.wait(300) == 0, (tmp_path / "err.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    trials = trials_of(tmp_path, "hpo.db")
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 2 and "RUNNING" not in states
    (resumed,) = [t for t in trials if t.user_attrs.get("resumed")]
    assert resumed.user_attrs["resumed"]["from"] == 0
    assert resumed.user_attrs["resumed"]["kept"] >= 2
    assert len(resumed.user_attrs["history"]["val_accuracy"]) == 10
    assert "worker died: process " in trials[0].user_attrs["fail_reason"]
