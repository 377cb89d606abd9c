"""What the benchmarks share: the MNIST data, a results table, and RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"


def data_dir(argv_value: str | None) -> Path:
    path = Path(argv_value or os.environ.get("HPO_DATA_DIR") or DEFAULT_DATA_DIR)
    if not (path / "mnist.npz").is_file():
        sys.exit(f"bench: no mnist.npz in {path}; pass --data-dir DIR")
    return path


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table, padded so that it reads as plain text too."""
    from tabulate import tabulate

    return tabulate([[str(c) for c in row] for row in rows], headers=headers,
                    tablefmt="github", disable_numparse=True)


def record(name: str, command: str, body: str) -> None:
    """Print ``body`` and put it in bench/RESULTS.md under ``## name``, replacing the old one."""
    print(body)
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    section = f"## {name}\n\nCommand: `{command}` ({machine})\n\n{body}\n"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text.rstrip() + "\n")
