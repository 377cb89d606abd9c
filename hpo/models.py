"""hpo's built-in model builders, ``mlp`` and ``cnn``.

``mlp(trial, info)`` and ``cnn(trial, info)`` are builders like a user's: they read hpo's named
dimensions with ``hpo.params(trial)`` and return a compiled model. Underneath,
``build_model(params, input_shape, n_classes)`` maps params to the model: params alone decide, so
the search, the final retrain and a rebuilt exported config build the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import layers

from hpo.builders import make_optimizer
from hpo.space import Run, params, resolve
from hpo.tasks import CLASSIFICATION, REGRESSION, task_metrics


def mlp(trial: Any, info: Any) -> keras.Model:
    """The built-in dense network: hpo's named dimensions, ``[space]`` sets their ranges."""
    return _build(params(trial), info, "mlp")


def cnn(trial: Any, info: Any) -> keras.Model:
    """The built-in convolutional network: conv blocks, then the MLP's dense layers."""
    return _build(params(trial), info, "cnn")


def build_model(
    params: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    family: str = "mlp",
    steps_per_execution: int = 1,
    task: str = CLASSIFICATION,
    run: Run | None = None,
) -> keras.Model:
    """A compiled model of a built-in family for ``params`` (the others take hpo's defaults).

    A classifier ends in ``n_classes`` outputs, a softmax trained with sparse categorical
    cross-entropy (or, with ``head = "relu_mse"``, relus trained with mean squared error against
    one-hot labels), with an ``accuracy`` metric; a regression model (``task``) in
    ``n_classes`` linear outputs trained with mean squared error. Seed Keras first for a
    reproducible init. ``run``: the training run a cosine schedule spans (``hpo.space.Run``).
    """
    from hpo.data import DataInfo

    if family not in _FAMILIES:
        raise ValueError(f"unknown model family '{family}'; valid: {', '.join(_FAMILIES)}")
    info = DataInfo(tuple(input_shape), task, n_classes if task == CLASSIFICATION else None,
                    int(n_classes))
    return _build(resolve(params), info, family, steps_per_execution, run)


def _build(p: Mapping[str, Any], info: Any, family: str,
           steps_per_execution: int | None = None, run: Run | None = None) -> keras.Model:
    from hpo.fit import STEPS_PER_EXECUTION

    inputs = keras.Input(shape=tuple(info.input_shape))
    features = _FAMILIES[family](p, inputs)
    if info.task == REGRESSION:
        activation, loss = None, "mse"
    else:
        activation = "relu" if p["head"] == "relu_mse" else "softmax"
        loss = loss_function(p["head"])
    outputs = layers.Dense(int(info.n_outputs), activation=activation,
                           kernel_initializer=p["initializer"])(features)
    model = keras.Model(inputs, outputs, name=family)
    model.compile(
        optimizer=make_optimizer(p, run),
        loss=loss,
        metrics=task_metrics(model, info),
        steps_per_execution=steps_per_execution or STEPS_PER_EXECUTION,
    )
    return model


@keras.saving.register_keras_serializable(package="hpo")
def one_hot_mse(y_true, y_pred):
    """Mean squared error between integer labels, one-hot encoded, and the outputs."""
    y_true = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                               keras.ops.shape(y_pred)[-1])
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def loss_function(head: str):
    """The per-example loss a model with this ``head`` trains with (no penalties added)."""
    if head == "relu_mse":
        return one_hot_mse
    return keras.losses.sparse_categorical_crossentropy


def _regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _dense_layers(p: Mapping[str, Any], x: Any) -> Any:
    for units in p["units"]:
        x = layers.Dense(
            units,
            activation=p["activation"],
            kernel_initializer=p["initializer"],
            kernel_regularizer=_regularizer(p["l1"], p["l2"]),
            activity_regularizer=_regularizer(p["activity_l1"], p["activity_l2"]),
        )(x)
        if p["dropout"] > 0:
            x = layers.Dropout(p["dropout"])(x)
    return x


def _mlp(p: Mapping[str, Any], inputs: Any) -> Any:
    return _dense_layers(p, layers.Flatten()(inputs))


_POOLING = {"max": layers.MaxPooling2D, "average": layers.AveragePooling2D}


def _cnn(p: Mapping[str, Any], inputs: Any) -> Any:
    """Convolution blocks (conv, 2x2 pooling, dropout), then the MLP's dense layers as head."""
    x = inputs
    for filters in p["filters"]:
        x = layers.Conv2D(
            filters,
            p["kernel_size"],
            padding="same",
            activation=p["activation"],
            kernel_initializer=p["initializer"],
            kernel_regularizer=_regularizer(p["l1"], p["l2"]),
            activity_regularizer=_regularizer(p["activity_l1"], p["activity_l2"]),
        )(x)
        # Pooling stops at 1x1: three blocks on 8x8 digits still build.
        if p["pooling"] != "none" and min(x.shape[1:3]) >= 2:
            x = _POOLING[p["pooling"]](2)(x)
        if p["conv_dropout"] > 0:
            x = layers.Dropout(p["conv_dropout"])(x)
    return _dense_layers(p, layers.Flatten()(x))


_FAMILIES = {"mlp": _mlp, "cnn": _cnn}
