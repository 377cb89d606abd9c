"""The CLI's handling of Ctrl-C: one line, never a traceback, never a lost interrupt."""

import gc
import logging
import signal
import sys
import time
import weakref

import pytest

from hpo import _cli, interrupt
from hpo._cli import configure_logging


class _Thing:
    pass


@pytest.fixture
def quiet_cli(monkeypatch):
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    configure_logging(debug=False)


def _finalize(callback) -> None:
    thing = _Thing()
    ref = weakref.ref(thing, callback)
    del thing
    gc.collect()
    assert ref() is None


def _interrupted(_ref):
    raise KeyboardInterrupt


def test_ctrl_c_inside_a_finalizer_is_delivered_again_without_a_traceback(quiet_cli, capsys):
    with pytest.raises(KeyboardInterrupt):
        _finalize(_interrupted)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the re-delivered signal lands here
            time.sleep(0.01)
    assert "Traceback" not in capsys.readouterr().err


def test_other_errors_in_finalizers_are_still_shown(quiet_cli, capsys):
    def broken(_ref):
        raise ValueError("a real bug in a finalizer")

    _finalize(broken)
    assert "a real bug in a finalizer" in capsys.readouterr().err


def _signal_in_finalizer(_ref):
    signal.raise_signal(signal.SIGINT)  # its KeyboardInterrupt is raised here, and dropped
    time.sleep(0.5)


def _wait(seconds: float, interrupt_expected: bool = True) -> None:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except KeyboardInterrupt:
        if interrupt_expected:
            raise
        pytest.fail("the interrupt was delivered a second time")


def test_ctrl_c_dropped_in_a_finalizer_while_hpo_runs_is_delivered_again(quiet_cli):
    with pytest.raises(KeyboardInterrupt), interrupt.watch():
        _finalize(_signal_in_finalizer)
        _wait(5)  # the re-delivered signal lands here


def test_ctrl_c_hpo_already_raised_for_is_not_delivered_twice(quiet_cli, monkeypatch):
    # The second one would land in the cleanup that records the running trials.
    monkeypatch.setattr(_cli, "RESEND_DELAY", 1.5)  # long after the raise below
    with interrupt.watch():
        _finalize(_signal_in_finalizer)
        with pytest.raises(KeyboardInterrupt):
            interrupt.raise_if_requested()  # as at the end of an epoch
        _wait(2.5, interrupt_expected=False)


def test_ctrl_c_dropped_just_before_the_run_ended_is_not_delivered_after_it(quiet_cli,
                                                                             monkeypatch):
    monkeypatch.setattr(_cli, "RESEND_DELAY", 1.0)
    with interrupt.watch():
        _finalize(_signal_in_finalizer)
    _wait(2.0, interrupt_expected=False)
