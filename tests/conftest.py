from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# A suite started in the background by a script (`pytest &`) inherits SIGINT ignored, and then
# Python installs no KeyboardInterrupt handler: the Ctrl-C tests need it, in this process and
# (reset to the default at exec) in the hpo processes they start.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent

TINY_STUDY = """
description = "tiny test study"
family = "mlp"
seed = 1
final_seeds = 1
enqueue = []                # the random draws alone, without the family's textbook start

[data]
dataset = "digits"
validation_size = 0.2

[budget]
trials = 3
max_epochs = 2

[sampler]
name = "random"

[pruner]
name = "none"

[space]
optimizer = ["adam", "sgd"]
learning_rate = { low = 0.001, high = 0.05, log = true }
batch_size = 64
n_layers = { low = 1, high = 2 }
units = [8, 16]
"""


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    """A tiny study on scikit-learn's digits, written into tmp_path/studies/tiny.toml."""
    path = tmp_path / "studies" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(TINY_STUDY)
    return path


def run_hpo(args: list[str], cwd: Path, module: str = "hpo.run",
            env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run an hpo command the way a user does: a new Python process in ``cwd``."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("HPO_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -c code`` in a new process in ``cwd``, hpo importable from this checkout."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def write_mnist_like(path: Path, n_train: int = 60, n_test: int = 20, shape=(28, 28)) -> Path:
    """A tiny .npz in Keras's mnist.npz layout."""
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )
    return path


def start_hpo(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    """Start ``python -m hpo.run`` in the background; its output goes to cwd/out.log, err.log."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    out, err = open(cwd / "out.log", "w"), open(cwd / "err.log", "w")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "hpo.run", *args], cwd=cwd, env=full_env,
                            stdout=out, stderr=err)


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    """Poll ``condition()`` until it returns something truthy; fail the test after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# The tiny study with a learning rate that diverges and a pruner that stops a trial after one
# epoch: with MIXED_SEED its five trials end in all three states (the fixture checks it).
MIXED_STUDY = TINY_STUDY.replace(
    "learning_rate = { low = 0.001, high = 0.05, log = true }", "learning_rate = [0.01, 100.0]"
).replace('name = "none"', 'name = "median"\nn_startup_trials = 1\nn_warmup_steps = 0'
          ).replace("trials = 3", "trials = 5")
MIXED_SEED = 6


@dataclass(frozen=True)
class StudyRun:
    """A finished ``python -m hpo.run`` of the mixed study: where it ran and what it printed."""

    cwd: Path
    result: subprocess.CompletedProcess
    name: str = "mixed"

    @property
    def out(self) -> Path:
        return self.cwd / "runs" / self.name

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.cwd / 'hpo.db'}"

    def states(self) -> list[str]:
        import optuna

        study = optuna.load_study(study_name=self.name, storage=self.storage)
        return [t.state.name for t in study.trials]


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory) -> StudyRun:
    """The mixed study run once, through the CLI with the final step, shared by the tests that
    only read what it left: the storage, best.json, the report and its PNGs."""
    cwd = tmp_path_factory.mktemp("mixed")
    (cwd / "studies").mkdir()
    (cwd / "studies" / "mixed.toml").write_text(MIXED_STUDY)
    result = run_hpo(["--study", "mixed", "--seed", str(MIXED_SEED)], cwd)
    assert result.returncode == 0, result.stderr
    run = StudyRun(cwd, result)
    assert {"COMPLETE", "PRUNED", "FAIL"} <= set(run.states()), (
        f"the mixed study should end in every state; it ended {run.states()}: pick another "
        f"MIXED_SEED")
    return run
