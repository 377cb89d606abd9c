"""hpo: hyperparameter search for Keras models on Optuna, from search to one honest test.

The public API, imported lazily so that ``import hpo`` (and the CLI's input checks) do not
pay for TensorFlow::

    spec = hpo.load_spec("mlp")
    data = hpo.load_dataset(spec.data, data_dir="data")
    objective = hpo.make_objective(spec, data.search)
    model = hpo.model_from_config("runs/mlp/best.json")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "HpoError": "hpo.errors",
    "StudySpec": "hpo.spec",
    "load_spec": "hpo.spec",
    "available_studies": "hpo.spec",
    "Dataset": "hpo.data",
    "load_dataset": "hpo.data",
    "DIMENSIONS": "hpo.space",
    "suggest": "hpo.space",
    "build_model": "hpo.models",
    "make_objective": "hpo.objective",
    "retrain_and_test": "hpo.final",
    "load_config": "hpo.export",
    "model_from_config": "hpo.export",
    "top_configs": "hpo.export",
    "write_report": "hpo.report",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")
