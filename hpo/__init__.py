"""hpo: hyperparameter search for Keras models on Optuna, from search to one honest test.

The public API, imported lazily so that ``import hpo`` (and the CLI's input checks) do not
pay for TensorFlow::

    result = hpo.tune(build, x, y, trials=20)        # a builder of yours, arrays in memory

    def build(trial):                                # inside a builder: hpo's named dimensions
        dropout = hpo.param(trial, "dropout")        # ranges from [space], else the default
        ...

    spec = hpo.load_spec("mlp")                      # or the pieces, one by one
    data = hpo.load_dataset(spec.data, data_dir="data")
    objective = hpo.make_objective(spec, data.search)
    model = hpo.model_from_config("runs/mlp/best.json")
    model = hpo.load_model("runs/mlp/model.keras")   # the final model, preprocessing included
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "tune": "hpo.tuning",
    "TuneResult": "hpo.tuning",
    "params": "hpo.space",
    "param": "hpo.space",
    "DataInfo": "hpo.data",
    "SearchData": "hpo.data",
    "parse_spec": "hpo.spec",
    "load_builder": "hpo.builders",
    "compile_model": "hpo.builders",
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
    "load_model": "hpo.export",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")
