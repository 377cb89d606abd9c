"""Ctrl-C (or ``kill``) that lands inside TensorFlow still stops the run as an interrupt.

Python raises ``KeyboardInterrupt`` in whatever Python frame runs when the signal arrives. In a
frame TensorFlow's C++ called back into, the interrupt can come out as another error (``SystemError:
<built-in function __import__> returned a result with an exception set``), which the study
would record as one failed trial and then go on; or TensorFlow may swallow it. While ``watch()``
is active, a SIGINT or SIGTERM whose handler raises ``KeyboardInterrupt`` is also noted, so
that such an error is read as what it is (``requested()``), and a trial that goes on
regardless stops at its next epoch (``raise_if_requested()``). ``watched`` does the same for
a whole function (``hpo.tune``). A handler of the caller's that returns, or raises an error
of its own, keeps its meaning.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_F = TypeVar("_F", bound=Callable[..., Any])


class _State:
    depth = 0  # watch() blocks open on the main thread
    run = 0  # counts outermost watch() blocks: which run an interrupt belongs to
    signum: int | None = None  # the signal that interrupted, while a block is open
    delivered = False  # raise_if_requested has raised for it since


_state = _State()


def requested() -> bool:
    """Whether SIGINT or SIGTERM interrupted (its handler raised ``KeyboardInterrupt``) since
    the outermost ``watch()`` began; False outside one."""
    return _state.depth > 0 and _state.signum is not None


def signal_name() -> str | None:
    """The name of the signal that interrupted ("SIGINT": Ctrl-C, "SIGTERM": kill), if any."""
    return signal.Signals(_state.signum).name if requested() else None


def raise_if_requested(cause: BaseException | None = None) -> None:
    """Raise ``KeyboardInterrupt`` (from ``cause``) if an interrupt arrived."""
    if requested():
        _state.delivered = True
        raise KeyboardInterrupt from cause


def resender() -> Callable[[], None]:
    """For an interrupt Python dropped just now (inside a finalizer): a function that sends
    it again, unless by then hpo has raised for it or the run it interrupted has ended.
    Dropped outside a watch: it sends SIGINT (or SIGTERM) if a Python handler takes it."""
    seen = requested()
    run = _state.run
    sig = _state.signum if seen else next(
        (s for s in _SIGNALS if callable(signal.getsignal(s))), None)

    def resend() -> None:
        if seen and not (requested() and _state.run == run and not _state.delivered):
            return
        if sig is not None:
            os.kill(os.getpid(), sig)

    return resend


@contextmanager
def watch() -> Iterator[None]:
    """Note SIGINT and SIGTERM whose Python handlers raise ``KeyboardInterrupt``; restore the
    handlers on exit. An error that escapes after such an interrupt is re-raised as
    ``KeyboardInterrupt``. The outermost block forgets the interrupt when it ends.

    A signal left to the operating system (default or ignored) is left alone, and so is
    everything outside the main thread, where Python cannot set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def note(signum, frame):
        try:
            return previous[signum](signum, frame)
        except KeyboardInterrupt:  # a handler that returns, or raises its own error, does not
            if _state.depth:
                _state.signum, _state.delivered = signum, False
            raise

    # No call between here and the try: Python runs signal handlers only at calls and jumps,
    # so a second Ctrl-C cannot leave the count wrong.
    if _state.depth == 0:
        _state.run += 1
        _state.signum = None
        _state.delivered = False
    _state.depth += 1
    try:
        for sig, handler in previous.items():
            if callable(handler):
                signal.signal(sig, note)
        yield
    except Exception as e:
        raise_if_requested(e)
        raise
    finally:
        try:
            for sig, handler in previous.items():
                if callable(handler):
                    signal.signal(sig, handler)
        finally:
            _state.depth -= 1
            if _state.depth == 0:
                _state.signum = None


def watched(function: _F) -> _F:
    """``function`` run inside ``watch()``."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with watch():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
