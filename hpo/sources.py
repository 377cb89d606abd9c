"""Where a study's data comes from: arrays and files read whole (``hpo.data``), or pipelines
read as they stream (``hpo.streams``): given from Python, made by a study's ``loader``, or an
image folder (``hpo.images``). ``load`` returns the same :class:`~hpo.data.Dataset` for each.
"""

from __future__ import annotations

import os
from typing import Any

from hpo.data import Arrays, Dataset, load_dataset
from hpo.errors import DataError
from hpo.spec import StudySpec
from hpo.streams import Pipelines, load_pipelines

# The data sets that arrive as pipelines: the search reads them batch by batch.
STREAMED = ("pipeline", "loader", "images")


def load(spec: StudySpec, data_dir: str | os.PathLike[str] | None = None,
         given: Arrays | Pipelines | None = None, need_test: bool = False) -> Dataset:
    """Load the study's data once: its search part and its sealed test part. Raises DataError
    (or SpecError for a loader that cannot be imported) before anything is trained.
    ``need_test``: the final step will test, so pipelines must include a test part."""
    data = spec.data
    if data.dataset not in STREAMED:
        return load_dataset(data, data_dir, seed=spec.seed,
                            arrays=given if isinstance(given, tuple) else None)
    if data.cv_folds:
        raise DataError(f"[data] cv_folds = {data.cv_folds} is not supported with a pipeline "
                        f"(dataset = \"{data.dataset}\"): folds need rows to split; set "
                        f"cv_folds = 0 (a validation pipeline scores every trial)")
    if data.dataset == "loader":
        given = call_loader(data.loader or "", data.base_dir)
    elif data.dataset == "images":
        from hpo.images import image_pipelines

        given = image_pipelines(data, spec.seed)
    if not isinstance(given, Pipelines):
        raise DataError("[data] dataset = \"pipeline\" is given from Python: hpo.tune(build, "
                        "train_ds, validation_data=val_ds, test_data=test_ds)")
    if need_test and given.test is None:
        raise DataError("the final step tests on test_data, and none was given: pass "
                        "test_data=test_ds (a loader returns it third), or final=False "
                        "(--no-final) to search only")
    keep_batches = "batch_size" not in spec.space
    name, search, test = load_pipelines(given, data.task, keep_batches)
    return Dataset(name, search, test)


def call_loader(reference: str, base_dir: str | None) -> Pipelines:
    """Call ``[data] loader``: it returns (train, validation) or (train, validation, test)."""
    from hpo.builders import load_function

    loader = load_function(reference, base_dir, key="[data] loader",
                           does="returns (train, validation, test) datasets")
    try:
        made: Any = loader()
    except Exception as e:  # noqa: BLE001 - the user's loader failed: say so, in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(f"[data] loader {reference!r} raised {type(e).__name__}: {first}; "
                        f"fix the loader") from None
    if not isinstance(made, (tuple, list)) or len(made) not in (2, 3):
        got = f"{len(made)} values" if isinstance(made, (tuple, list)) else \
            type(made).__name__
        raise DataError(f"[data] loader {reference!r} returned {got}; expected (train, "
                        f"validation, test) datasets (test may be None)")
    train, validation, test = (*made, None)[:3]
    return Pipelines(train, validation, test, name=f"loader:{reference}")
