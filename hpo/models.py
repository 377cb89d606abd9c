"""``build_model(params, input_shape, n_classes) -> compiled keras.Model``: params alone decide.

The search, the final retrain and a rebuilt exported config all go through this one mapping,
so a retrained model is the model its trial trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import layers

from hpo.space import resolve


def build_model(
    params: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    family: str = "mlp",
    steps_per_execution: int = 1,
) -> keras.Model:
    """A compiled classifier for ``params`` (hyperparameters left out take hpo's defaults).

    The model ends in ``n_classes`` outputs, a softmax trained with sparse categorical
    cross-entropy (or, with ``head = "relu_mse"``, relus trained with mean squared error against
    one-hot labels), with an ``accuracy`` metric. Seed Keras first for a reproducible init.
    """
    if family not in _FAMILIES:
        raise ValueError(f"unknown model family '{family}'; valid: {', '.join(_FAMILIES)}")
    p = resolve(params)
    inputs = keras.Input(shape=tuple(input_shape))
    features = _FAMILIES[family](p, inputs)
    output_activation = "relu" if p["head"] == "relu_mse" else "softmax"
    outputs = layers.Dense(int(n_classes), activation=output_activation,
                           kernel_initializer=p["initializer"])(features)
    model = keras.Model(inputs, outputs, name=family)
    model.compile(
        optimizer=make_optimizer(p),
        loss=loss_function(p["head"]),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def make_optimizer(p: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """The Keras optimizer for resolved params, with inverse-time decay when decay > 0."""
    kwargs: dict[str, Any] = {}
    name = p["optimizer"]
    lr = p["learning_rate"]
    if p["decay"] > 0:
        # Keras 2's `decay=` argument: lr_t = lr / (1 + decay * iterations).
        initial = lr if lr is not None else keras.optimizers.get(name).learning_rate
        lr = keras.optimizers.schedules.InverseTimeDecay(
            float(initial), decay_steps=1, decay_rate=p["decay"]
        )
    if lr is not None:
        kwargs["learning_rate"] = lr
    if name == "sgd":
        kwargs.update(momentum=p["momentum"], nesterov=p["nesterov"])
    elif name in ("adam", "nadam"):
        kwargs.update(beta_1=p["beta_1"], beta_2=p["beta_2"])
    return keras.optimizers.get({"class_name": name, "config": kwargs})


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
