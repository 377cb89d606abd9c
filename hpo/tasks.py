"""What a task means to hpo: its name, its default metric, the loss and metrics a model is
compiled with. The one home of the task names ("classification", "regression")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
