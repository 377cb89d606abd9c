"""Model builders for tables (the breast-cancer and diabetes examples): bring your own network.

A builder takes an Optuna ``trial`` (and, if it wants, ``info``: the input shape, the task, the
classes) and returns a Keras model. It suggests its own hyperparameters with ``trial.suggest_*``
and reads hpo's named dimensions with ``hpo.param``, so that the study file's ``[space]`` sets
their ranges. Returned uncompiled, the model is compiled by hpo with the study's optimizer
dimensions (optimizer, learning_rate, ...) and the task's loss and metrics.
"""

from __future__ import annotations

import keras

import hpo


def _body(trial, info):
    inputs = keras.Input(info.input_shape)
    x = inputs
    # "depth" is this builder's own name: the study file may set its range in [space].
    for i in range(hpo.param(trial, "depth", 2)):
        x = keras.layers.Dense(trial.suggest_int(f"width_{i + 1}", 8, 128, log=True),
                               activation=hpo.param(trial, "activation"))(x)
        x = keras.layers.Dropout(hpo.param(trial, "dropout"))(x)
    return inputs, x


def classifier(trial, info):
    """A binary classifier ending in one sigmoid unit (hpo compiles it with binary
    cross-entropy, accuracy and AUC)."""
    inputs, x = _body(trial, info)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="tabular_classifier")


def regressor(trial, info):
    """A regression network ending in one linear unit per target (compiled with MSE, MAE and
    RMSE)."""
    inputs, x = _body(trial, info)
    outputs = keras.layers.Dense(info.n_outputs)(x)
    return keras.Model(inputs, outputs, name="tabular_regressor")
