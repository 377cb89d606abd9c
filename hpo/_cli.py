"""What the command-line entry points share: one-line errors, exit codes, logging setup."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from hpo import interrupt
from hpo.errors import HpoError

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
RESEND_DELAY = 0.1  # seconds before a Ctrl-C dropped in a finalizer is sent again


class Parser(argparse.ArgumentParser):
    """argparse with its error on one line: ``hpo: error: ...``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def stored_study_parser(prog: str, description: str) -> Parser:
    """A parser for a command that reads one stored study: --study, --storage and --debug."""
    from hpo.storage import DEFAULT_STORAGE

    p = Parser(prog=prog, description=description)
    p.add_argument("--study", required=True, metavar="NAME", help="the Optuna study name")
    p.add_argument("--storage", metavar="URL", default=DEFAULT_STORAGE,
                   help=f"Optuna storage URL (default: {DEFAULT_STORAGE})")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main_of(prog: str, parser: argparse.ArgumentParser,
            body: Callable[[argparse.Namespace], int], argv: Sequence[str] | None) -> int:
    """Parse ``argv``, set up logging, run ``body(args)`` with the CLI's error handling."""
    args = parser.parse_args(argv)
    configure_logging(args.debug)
    return run_cli(prog, lambda: body(args), args.debug)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def configure_logging(debug: bool, prefix: str = "") -> None:
    """The CLI's logging: hpo's progress lines on stderr; Optuna's own lines only with --debug."""
    name = "%(name)s " if debug else ""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format=f"%(asctime)s {prefix}{name}%(message)s",
        datefmt="%H:%M:%S",
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if debug else "3")
    if not debug:  # e.g. "triggered tf.function retracing": every trial is a new model
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        # Keras's and TensorFlow's Python warnings (a user's builder passing input_shape=...,
        # say) would split the progress bar; --debug shows them.
        import warnings

        for module in ("keras", "tensorflow", "optuna", "optuna_integration"):
            warnings.filterwarnings("ignore", module=module)
    import optuna

    # Optuna's warnings about failed trials repeat each trial's params beside hpo's own line,
    # which says why it failed; --debug shows them.
    optuna.logging.set_verbosity(optuna.logging.INFO if debug else optuna.logging.ERROR)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_drop_interrupt_tracebacks)
        sys.unraisablehook = _quiet_unraisable_interrupt


def import_tensorflow_quietly(debug: bool, threads: int | None = None) -> None:
    """Import TensorFlow (and start its devices) with file descriptor 2 sent to /dev/null.

    TensorFlow's C++ side writes its start-up lines (absl's "All log messages before
    absl::InitializeLog()", cudart_stub, cpu_feature_guard, cuInit) straight to fd 2, twice,
    whatever TF_CPP_MIN_LOG_LEVEL says; in a terminal they split the progress bar. With
    ``debug`` they are left alone. ``threads``: TensorFlow's intra-op threads (a worker's
    share of the cores), set before anything starts its thread pools. Every GPU gets memory
    growth, so that processes sharing a GPU take what they use, not all of it.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    if not debug:
        os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.list_physical_devices()
        enable_memory_growth(tf)
        import keras

        keras.ops.ones(1)  # the first op initialises the devices, and says so
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def enable_memory_growth(tf) -> None:
    """Memory growth on every GPU TensorFlow sees; a GPU already started keeps its setting."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # "Physical devices cannot be modified after being initialized"
            logging.getLogger("hpo").debug("memory growth not set on %s: already started",
                                           gpu.name)


def _quiet_unraisable_interrupt(unraisable) -> None:
    # Ctrl-C can land inside a finalizer (a weakref callback during garbage collection): Python
    # prints "Exception ignored in ..." with a traceback and drops the interrupt. Print nothing
    # and deliver the signal again, from another thread so that it arrives after the finalizer.
    # Not when hpo has raised for it by then, or the run has ended (hpo.interrupt): a second
    # interrupt would land in the cleanup that records the running trials.
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
        return
    timer = threading.Timer(RESEND_DELAY, interrupt.resender())
    timer.daemon = True
    timer.start()


def _drop_interrupt_tracebacks(record: logging.LogRecord) -> bool:
    # Optuna logs a trial stopped by Ctrl-C with its traceback; the CLI says it in one line.
    return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


def run_cli(prog: str, body: Callable[[], int], debug: bool) -> int:
    """Run ``body``; a bad setup prints one line and returns 2 (the traceback with --debug)."""
    try:
        with interrupt.watch():
            return body()
    except HpoError as e:
        if debug:
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # also Ctrl-C that came out of TensorFlow as another error
        print(f"{prog}: interrupted; what finished is stored, rerun the same command to "
              f"resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def wants_debug(argv: Sequence[str] | None) -> bool:
    return "--debug" in (sys.argv[1:] if argv is None else argv)
