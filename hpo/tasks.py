"""What a task means to hpo: its name, its default metric, the loss and metrics a model is
compiled with. The one home of the task names ("classification", "regression")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

    from hpo.data import DataInfo

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
DEFAULT_METRIC = {CLASSIFICATION: "val_accuracy", REGRESSION: "val_loss"}


def task_loss(model: keras.Model, info: DataInfo) -> Any:
    """Mean squared error for a regression; binary cross-entropy for one sigmoid output; else
    sparse categorical cross-entropy."""
    import keras

    if info.task == REGRESSION:
        return "mse"
    if int(model.outputs[0].shape[-1]) == 1:  # binary, one sigmoid output
        return keras.losses.binary_crossentropy
    return keras.losses.sparse_categorical_crossentropy


def task_metrics(model: keras.Model, info: DataInfo) -> list[Any]:
    """What hpo logs: accuracy (and AUC for two classes), or MAE and RMSE for regression."""
    import keras

    if info.task == REGRESSION:
        return [keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse")]
    metrics: list[Any] = ["accuracy"]
    if info.n_classes == 2 and int(model.outputs[0].shape[-1]) == 1:
        metrics.append(keras.metrics.AUC(name="auc"))
    return metrics


# Whole-number targets: class codes are few, or numbered 0..K-1 or 1..K (MNIST's 10, CIFAR-100's
# 100 are); a price, a count or a year is neither, and as a classification it would get a
# softmax over thousands of "classes" that each appear a few times. Above 20 distinct values
# that are not so numbered, the target is a regression (the user can still say otherwise).
MAX_CODED_CLASSES = 20
MAX_CLASSES = 1000


def looks_like_classes(y: np.ndarray) -> bool:
    """Whole numbers that are class codes: few (at most ``MAX_CODED_CLASSES``), or numbered
    0..K-1 or 1..K with K at most ``MAX_CLASSES`` (CIFAR-100's labels are; a price is not)."""
    values = np.unique(y)
    if len(values) <= MAX_CODED_CLASSES:
        return True
    first = int(values[0])
    contiguous = first in (0, 1) and int(values[-1]) - first + 1 == len(values)
    return contiguous and len(values) <= MAX_CLASSES
