"""Ctrl-C that TensorFlow turns into another error, or swallows, still stops the run."""

import signal
import time

import numpy as np
import optuna
import pytest

from hpo import interrupt, record
from hpo._cli import EXIT_INTERRUPTED, run_cli


def _ctrl_c(then: str) -> None:
    # What happens when the signal lands in a Python frame TensorFlow's C++ called back into.
    try:
        signal.raise_signal(signal.SIGINT)
        time.sleep(1)
    except KeyboardInterrupt:
        if then == "system error":
            raise SystemError("<built-in function __import__> returned a result with an "
                              "exception set") from None


def _builder(then: str):
    def build(trial):
        import keras

        if trial.study.study_name == "s":  # a trial, not hpo's check of the builder
            _ctrl_c(then)
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                                 keras.layers.Dense(2, activation="softmax")])

    return build


@pytest.mark.parametrize("then", ["system error", "swallowed"])
def test_ctrl_c_inside_a_trial_stops_the_study_and_marks_the_trial_interrupted(tmp_path, then):
    import hpo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    before = signal.getsignal(signal.SIGINT)
    before_term = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(_builder(then), x, y, study_name="s", trials=4, max_epochs=3, storage=url,
                 final=False, verbose=False, out_dir=tmp_path / "runs")
    assert signal.getsignal(signal.SIGINT) is before, "the caller's handler is restored"
    assert signal.getsignal(signal.SIGTERM) is before_term
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert len(trials) == 1, "the study did not go on to the next trial"
    assert trials[0].state.name == "FAIL"
    assert trials[0].user_attrs[record.FAIL_REASON] == record.INTERRUPTED
    if then == "swallowed":  # it stopped at the end of its first epoch, not after all three
        assert len(trials[0].user_attrs[record.HISTORY]["loss"]) == 1
    # As in a notebook: the next run after a Ctrl-C runs normally.
    again = hpo.tune(_builder(then), x, y, study_name="t", trials=1, max_epochs=2,
                     storage=url, final=False, verbose=False, out_dir=tmp_path / "runs")
    assert [len(t.user_attrs[record.HISTORY]["loss"]) for t in again.study.trials] == [2]


def test_ctrl_c_while_hpo_checks_the_builder_is_an_interrupt_not_a_bad_builder(tmp_path):
    import hpo

    calls = []

    def build(trial):
        calls.append(trial)
        _ctrl_c("system error")

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype("float32")
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(build, x, (x[:, 0] > 0).astype("int64"), study_name="s", trials=1,
                 max_epochs=1, storage=f"sqlite:///{tmp_path / 'hpo.db'}", final=False,
                 verbose=False, out_dir=tmp_path / "runs")
    assert len(calls) == 1, "stopped at once, not after trying more configurations"


def test_a_callers_handler_that_does_not_interrupt_lets_the_study_go_on(tmp_path):
    import hpo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        result = hpo.tune(_builder("swallowed"), x, y, study_name="s", trials=2, max_epochs=1,
                          storage=f"sqlite:///{tmp_path / 'hpo.db'}", final=False,
                          verbose=False, out_dir=tmp_path / "runs")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen, "the caller's handler ran"
    assert [t.state.name for t in result.study.trials] == ["COMPLETE", "COMPLETE"]


def test_the_cli_reports_an_interrupt_that_came_out_as_another_error(capsys):
    def body():
        _ctrl_c("system error")
        return 0

    assert run_cli("hpo", body, debug=False) == EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err


def test_the_cli_still_raises_a_real_error():
    def body():
        raise SystemError("a real bug")

    with pytest.raises(SystemError, match="a real bug"):
        run_cli("hpo", body, debug=False)


class Preempted(Exception):
    pass


def test_a_callers_handler_that_raises_its_own_error_gets_that_error_back():
    def preempt(signum, frame):
        raise Preempted

    previous = signal.signal(signal.SIGTERM, preempt)
    try:
        with pytest.raises(Preempted), interrupt.watch():
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)
        assert not interrupt.requested()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_interrupt_is_forgotten_when_the_outermost_watch_ends():
    with pytest.raises(KeyboardInterrupt), interrupt.watch():
        with interrupt.watch():
            _ctrl_c("swallowed")
            assert interrupt.requested(), "seen inside the inner watch"
        assert interrupt.requested(), "and still inside the outer one"
        interrupt.raise_if_requested()
    assert not interrupt.requested()
    interrupt.raise_if_requested()  # outside any watch: nothing to raise
