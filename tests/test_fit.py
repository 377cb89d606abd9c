from __future__ import annotations

import numpy as np
import pytest

from hpo.fit import Feeder


def epoch(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


@pytest.mark.parametrize("batch_size", [4, 7, 30])
def test_every_epoch_trains_on_every_example_once_in_full_batches(batch_size):
    x = np.arange(30 * 3, dtype="float32").reshape(30, 3)
    y = np.arange(30)
    feeder = Feeder(x, y, seed=0)
    for _ in range(2):
        batches = epoch(feeder.train(batch_size))
        sizes = sorted((len(b[1]) for b in batches), reverse=True)
        # Fixed batches; only one, the remainder, is smaller.
        assert sizes[:-1] == [batch_size] * (len(sizes) - 1) and 0 < sizes[-1] <= batch_size
        labels = np.concatenate([b[1] for b in batches])
        assert sorted(labels) == list(range(30))
        # Each example keeps its label.
        for xb, yb in batches:
            np.testing.assert_array_equal(xb, x[yb])


def test_batches_come_in_a_new_order_each_epoch_and_the_same_order_for_a_seed():
    x, y = np.zeros((64, 2), dtype="float32"), np.arange(64)

    def orders(seed, epochs=(0, 1, 2), batch_size=8):
        feeder = Feeder(x, y, seed=seed)
        dataset = feeder.train(batch_size)
        out = []
        for e in epochs:
            feeder.epoch.assign(e)  # what EpochOrder does at each epoch's start in a fit
            out.append([int(b[1][0]) for b in epoch(dataset)])
        return out

    first = orders(seed=0)
    assert first[0] != first[1] != first[2]
    assert orders(seed=0) == first  # a retrain is fed as its trial was
    assert orders(seed=1) != first
    # An epoch's order depends on the seed and the epoch alone: a trial resumed at epoch 2
    # gets the order an uninterrupted one got.
    assert orders(seed=0, epochs=(2,)) == first[2:]


def test_switching_batch_size_and_back_gives_the_batches_again():
    x, y = np.zeros((20, 2), dtype="float32"), np.arange(20)
    feeder = Feeder(x, y, x[:5], y[:5], seed=0)
    assert [len(b[1]) for b in epoch(feeder.train(10))] == [10, 10]
    assert sorted(len(b[1]) for b in epoch(feeder.train(8))) == [4, 8, 8]
    assert [len(b[1]) for b in epoch(feeder.train(10))] == [10, 10]
    assert sum(len(b[1]) for b in epoch(feeder.validation())) == 5


def _draws(seed: int, use) -> dict[str, list]:
    """What a model built after ``use(seed)`` would draw: TensorFlow's stateful ops (an
    explicit op seed, a derived one, a second call of the same op), Keras's and NumPy's."""
    import keras
    import tensorflow as tf

    use(seed)
    return {"tf": [tf.random.uniform([3], seed=7).numpy().tolist(),
                   tf.random.uniform([3], seed=7).numpy().tolist(),
                   tf.random.normal([2]).numpy().tolist()],
            "keras": keras.random.uniform([3]).numpy().tolist(),
            "numpy": np.random.rand(2).tolist()}


def _keras_reset(seed: int) -> None:
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


def test_new_session_draws_what_keras_s_reset_draws_for_new_and_repeated_seeds():
    from hpo import fit

    # The seeds go 9001, 9002, then 9001 again (a final retrain reuses its trial's seed): each
    # session draws what Keras's reset draws, so a retrain repeats its trial exactly.
    drawn = [_draws(seed, fit.new_session) for seed in (9001, 9002, 9001, 9002)]
    expected = {seed: _draws(seed, _keras_reset) for seed in (9001, 9002)}
    assert drawn == [expected[9001], expected[9002], expected[9001], expected[9002]]


def test_the_pipelines_run_without_autotuning_whose_threads_outlive_their_iterators():
    x, y = np.zeros((64, 2), dtype="float32"), np.arange(64)
    feeder = Feeder(x, y, x, y, seed=0)
    for dataset in (feeder.train(8), feeder.validation()):
        assert dataset.options().autotune.enabled is False
