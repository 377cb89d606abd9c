"""The CLI's handling of Ctrl-C: one line, never a traceback, never a lost interrupt."""

import gc
import logging
import sys
import time
import weakref

import pytest

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
