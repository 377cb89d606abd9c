"""What a user sees in a real terminal: the answer, not other libraries' noise."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

NOISE = ("absl", "cudart", "cpu_feature_guard", "cuInit", "Invalid loss", "[W ", "Warning:",
         "Traceback")


def run_in_terminal(args: list[str], cwd, columns: int = 120, timeout: float = 600) -> str:
    """Run ``python -m hpo.run args`` with a pseudo-terminal as stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it: unset
    proc = subprocess.Popen([sys.executable, "-m", "hpo.run", *args], cwd=cwd, env=env,
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


def test_a_digits_study_in_a_terminal_shows_the_answer_without_noise(tmp_path):
    out = run_in_terminal(["--study", "mlp", "--dataset", "digits", "--trials", "8"], tmp_path)
    screen = [line.split("\r")[-1] for line in out.replace("\r\n", "\n").split("\n")]
    for noise in NOISE:
        assert noise not in out, f"{noise!r} reached the terminal"
    # The progress bar was drawn, and no trial line is glued to it.
    assert "trials:" in out
    assert not any("trials:" in line and "] trial " in line for line in screen)
    start = next(i for i, line in enumerate(screen) if line.startswith("the best trials"))
    end = next(i for i in range(start, len(screen)) if screen[i].startswith("wrote "))
    table = screen[start + 1:end]
    assert len(table) >= 3 and all(len(line) <= 120 for line in table), table
    assert out.count("the best trials") == 1  # printed once, after the test
    assert re.search(r"held-out test accuracy: 0\.\d+ ± 0\.\d+ over 3 seeds", out)
    best = json.loads((tmp_path / "runs" / "mlp-digits" / "best.json").read_text())
    assert len(best["seeds"]) == len(best["test_scores"]) == 3
    low, high = best["test_ci95"]
    assert low < best["test_mean"] < high and best["test_sd"] >= 0
