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

    The model ends in a softmax over ``n_classes`` and is compiled with sparse categorical
    cross-entropy and an ``accuracy`` metric. Seed Keras first for a reproducible init.
    """
    if family not in _FAMILIES:
        raise ValueError(f"unknown model family '{family}'; valid: {', '.join(_FAMILIES)}")
    p = resolve(params)
    model = _FAMILIES[family](p, tuple(input_shape), int(n_classes))
    model.compile(
        optimizer=make_optimizer(p),
        loss="sparse_categorical_crossentropy",
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


def _regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _mlp(p: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
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
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp")


_FAMILIES = {"mlp": _mlp}
