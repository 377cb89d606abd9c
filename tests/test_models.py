from __future__ import annotations

import keras
import numpy as np
import pytest

from hpo.models import build_model
from hpo.space import OPTIMIZERS, Run, sampling


def dense_params(widths, inputs=64, classes=10):
    sizes = [inputs, *widths, classes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def test_layer_widths_decide_the_parameter_count():
    model = build_model({"n_layers": 3, "units_1": 32, "units_2": 16, "units_3": 8}, (8, 8, 1), 10)
    assert model.count_params() == dense_params([32, 16, 8])
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_builds_and_trains_a_step(name):
    model = build_model({"optimizer": name, "learning_rate": 0.01}, (8, 8, 1), 10)
    assert type(model.optimizer).__name__.lower() == name
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    history = model.fit(x, np.arange(16) % 10, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_sgd_momentum_nesterov_and_adam_betas_reach_the_optimizer():
    sgd = build_model({"optimizer": "sgd", "momentum": 0.8, "nesterov": True}, (4,), 2).optimizer
    assert sgd.momentum == pytest.approx(0.8) and sgd.nesterov
    adam = build_model({"optimizer": "adam", "beta_1": 0.85, "beta_2": 0.99}, (4,), 2).optimizer
    assert adam.beta_1 == pytest.approx(0.85) and adam.beta_2 == pytest.approx(0.99)


def test_decay_is_inverse_time_decay_of_the_learning_rate():
    model = build_model({"optimizer": "sgd", "learning_rate": 0.1, "decay": 0.5}, (4,), 2)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.InverseTimeDecay)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(2)) == pytest.approx(0.1 / (1 + 0.5 * 2))


def test_no_decay_keeps_a_constant_learning_rate():
    model = build_model({"optimizer": "adam", "learning_rate": 0.003}, (4,), 2)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003)


def test_activation_initializer_regularizers_and_dropout_are_applied():
    model = build_model({"n_layers": 2, "units_1": 8, "units_2": 8, "activation": "tanh",
                         "initializer": "he_uniform", "l1": 1e-3, "l2": 1e-4,
                         "activity_l2": 1e-5, "dropout": 0.3}, (4,), 3)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    hidden, out = dense[:-1], dense[-1]
    assert all(layer.activation.__name__ == "tanh" for layer in hidden)
    assert all(type(layer.kernel_initializer).__name__ == "HeUniform" for layer in hidden)
    assert all(layer.kernel_regularizer.l1 == pytest.approx(1e-3) for layer in hidden)
    assert all(layer.activity_regularizer.l2 == pytest.approx(1e-5) for layer in hidden)
    assert out.kernel_regularizer is None and out.activation.__name__ == "softmax"
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.3, 0.3]


def test_same_params_and_seed_give_the_same_weights():
    params = {"n_layers": 1, "units_1": 16, "initializer": "random_normal"}
    keras.utils.set_random_seed(5)
    a = build_model(params, (8,), 4).get_weights()
    keras.utils.set_random_seed(5)
    b = build_model(params, (8,), 4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_unknown_family_and_unknown_params_are_refused():
    with pytest.raises(ValueError, match="unknown model family 'rnn'"):
        build_model({}, (4,), 2, family="rnn")
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        build_model({"width": 3}, (4,), 2)


def test_cnn_blocks_have_their_own_filters_and_pool_down_to_one_pixel():
    params = {"conv_blocks": 3, "filters_1": 4, "filters_2": 8, "filters_3": 16,
              "kernel_size": 3, "n_layers": 1, "units_1": 12}
    model = build_model(params, (8, 8, 1), 10, family="cnn")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 8, 16]
    # 8x8 pooled three times: 4x4, 2x2, 1x1; the head sees 16 features.
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[0].kernel.shape == (16, 12)
    x = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    assert np.isfinite(model.fit(x, np.arange(8) % 10, epochs=1, verbose=0).history["loss"][0])


def test_cnn_pooling_and_conv_dropout_are_applied():
    model = build_model({"conv_blocks": 1, "pooling": "average", "conv_dropout": 0.3},
                        (8, 8, 1), 10, family="cnn")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "AveragePooling2D" in kinds and "MaxPooling2D" not in kinds
    assert any(isinstance(layer, keras.layers.Dropout) and layer.rate == pytest.approx(0.3)
               for layer in model.layers)


def test_relu_mse_head_trains_on_integer_labels_with_mean_squared_error():
    model = build_model({"head": "relu_mse", "n_layers": 1, "units_1": 8}, (4,), 3)
    assert model.layers[-1].activation.__name__ == "relu"
    x = np.random.default_rng(0).random((6, 4), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    out = model.predict(x, verbose=0)
    expected = np.mean((np.eye(3)[y] - out) ** 2)
    loss = model.evaluate(x, y, verbose=0)[0]
    assert loss == pytest.approx(expected, rel=1e-4)
    softmax = build_model({"n_layers": 1, "units_1": 8}, (4,), 3)
    assert softmax.layers[-1].activation.__name__ == "softmax"


def test_cosine_runs_the_learning_rate_down_to_zero_over_the_whole_run():
    # 100 examples in batches of 32: 4 steps an epoch, 12 in a run of 3 epochs.
    model = build_model({"optimizer": "adam", "learning_rate": 0.01, "schedule": "cosine",
                         "batch_size": 32}, (4,), 2, run=Run(examples=100, epochs=3))
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(6)) == pytest.approx(0.005)  # half way
    assert float(schedule(12)) == pytest.approx(0.0, abs=1e-9)


def test_cosine_takes_the_run_hpo_builds_for_and_decay_is_not_read():
    params = {"optimizer": "sgd", "learning_rate": 0.1, "schedule": "cosine", "decay": 0.5,
              "batch_size": 10}
    with sampling(fixed=params, run=Run(examples=50, epochs=2)):
        schedule = build_model(params, (4,), 2).optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 10


def test_cosine_outside_a_run_is_a_clear_error():
    with pytest.raises(ValueError, match="schedule 'cosine'.*pass run=hpo.space.Run"):
        build_model({"schedule": "cosine"}, (4,), 2)
