"""A killed trial loses at most one epoch: a checkpoint per running trial, written each epoch.

A checkpoint is one ``.npz`` file: every variable of the model (``model.variables``: weights,
and the dropout layers' random-generator states) and of its optimizer (step count, moments),
with a JSON record of where the trial stood (the epoch, its history so far, the early-stopping
counter). It is written to a temporary file, then renamed over the previous one (atomic on one
file system), and removed when the trial ends. A trial that did not end (its process killed,
SIGTERM, Ctrl-C) is run again with the same parameters and seed, and continues from the epoch
after its checkpoint (``hpo.objective``); the data order of an epoch depends on the seed and the
epoch alone (``hpo.fit.Feeder``), so on a CPU the resumed trial scores as if nothing happened.

Why not Keras's ``BackupAndRestore``: it saves ``save_weights`` (no random-generator states, so
dropout draws other masks after a resume), nothing of the callbacks, and sets a private
attribute of the model to resume; the variables themselves are Keras's public API.

Where: beside a SQLite file (``hpo.db.checkpoints/<study>/``), else in the run's output
folder, or the folder ``--artifacts DIR`` names (one that every machine of a PostgreSQL study
can reach, so that a trial resumes on another machine).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUFFIX = ".checkpoints"


def default_folder(url: str, out_dir: Path) -> Path:
    """Beside a SQLite file; for a server storage, the run's output folder."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database)
        return db.with_name(db.name + SUFFIX)
    return out_dir / "checkpoints"


@dataclass(frozen=True)
class Saved:
    """A checkpoint as read: the model's and optimizer's variables, and the trial's state."""

    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        """Epochs done: the next one to train (counted from 0)."""
        return int(self.state["epoch"])


class CheckpointStore:
    """The checkpoints of one study's running trials, one file each, under ``folder``."""

    def __init__(self, folder: Path, study_name: str) -> None:
        self.folder = Path(folder) / study_name

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def save(self, key: str, model: Any, state: dict[str, Any]) -> None:
        """Write ``model``'s and its optimizer's variables and ``state``, atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"model_{i}": v.numpy() for i, v in enumerate(model.variables)}
        optimizer = getattr(model, "optimizer", None)
        for i, v in enumerate(optimizer.variables if optimizer is not None else ()):
            arrays[f"optimizer_{i}"] = v.numpy()
        arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
        path = self.path(key)
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(temporary, **arrays)
        os.replace(temporary, path)

    def load(self, key: str) -> Saved | None:
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as npz:
                names = set(npz.files)
                model = [npz[f"model_{i}"] for i in range(_count(names, "model_"))]
                optimizer = [npz[f"optimizer_{i}"] for i in range(_count(names, "optimizer_"))]
                state = json.loads(npz["state"].tobytes().decode())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError):  # a torn or foreign file: start over
            return None
        return Saved(model, optimizer, state)

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _count(names: set[str], prefix: str) -> int:
    return sum(name.startswith(prefix) for name in names)


def restore(model: Any, saved: Saved) -> None:
    """Set ``model``'s (compiled, same architecture) and its optimizer's variables to
    ``saved``'s. ValueError if they do not fit: another model was saved under that key."""
    model.optimizer.build(model.trainable_variables)
    pairs = [(model.variables, saved.model), (model.optimizer.variables, saved.optimizer)]
    for variables, values in pairs:
        if len(variables) != len(values) or any(
                tuple(v.shape) != a.shape for v, a in zip(variables, values)):
            raise ValueError("the checkpoint does not fit the model (another architecture)")
    for variables, values in pairs:
        for variable, value in zip(variables, values):
            variable.assign(value)
