"""How a model is fed on a CPU: arrays turned into tensors once, cached tf.data batches.

Measured with ``bench/speed.py`` on MNIST (784-128-64-10, batch 128, 2 cores): fitting NumPy
arrays spends about half of each epoch slicing and converting batches in Python; a cached
``tf.data`` pipeline with ``steps_per_execution`` does not. The search, the final retrain and the
benchmarks all train through this module, so a retrain is fed exactly as its trial was.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

# Batches run per call into the compiled graph. Callbacks still see every epoch's end (pruning
# and early stopping keep their granularity); only per-batch hooks run every 32 batches.
STEPS_PER_EXECUTION = 32
VALIDATION_BATCH = 1024  # evaluation has no gradients: larger batches are simply faster
_KEEP = 2  # cached training pipelines kept per process (one per recent batch size)


class Feeder:
    """Cached ``tf.data`` pipelines over one training split (and optionally a validation one).

    The arrays become tensors once. A training pipeline per batch size cuts the examples into
    fixed batches once, caches them in memory and shuffles the order of the batches every epoch
    (the examples were shuffled when the splits were drawn).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
                 y_val: np.ndarray | None = None, seed: int = 0) -> None:
        self._x, self._y = tf.constant(x), tf.constant(y)
        self._seed = seed
        self._train: OrderedDict[int, tf.data.Dataset] = OrderedDict()
        self._validation = None
        if x_val is not None and y_val is not None:
            self._validation = (
                tf.data.Dataset.from_tensor_slices((tf.constant(x_val), tf.constant(y_val)))
                .batch(VALIDATION_BATCH).cache().prefetch(tf.data.AUTOTUNE)
            )

    def train(self, batch_size: int) -> tf.data.Dataset:
        if batch_size in self._train:
            self._train.move_to_end(batch_size)
            return self._train[batch_size]
        n_batches = -(-int(self._y.shape[0]) // batch_size)
        dataset = (
            tf.data.Dataset.from_tensor_slices((self._x, self._y))
            .batch(batch_size)
            .cache()
            .shuffle(n_batches, seed=self._seed, reshuffle_each_iteration=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        self._train[batch_size] = dataset
        while len(self._train) > _KEEP:
            self._train.popitem(last=False)  # frees that batch size's cached copy
        return dataset

    def validation(self) -> tf.data.Dataset | None:
        return self._validation


# The names tf.custom_gradient gives the gradients it registers while a graph is traced.
_CUSTOM_GRADIENT = "CustomGradient-"


@contextlib.contextmanager
def released_gradients() -> Iterator[None]:
    """Training inside this block leaves no traced graph behind for good.

    Keras's optimizer sums gradients with ``all_reduce`` even without a distribution strategy,
    and that op is a ``tf.custom_gradient``: each trace of a train step registers a gradient
    function in TensorFlow's global gradient registry under a new name, and never removes it.
    Its closure holds the step's FuncGraph, so every trained model left ~6 MB behind (+939 MB
    over bench/memory.py's 100 trials; tensorflow/tensorflow#97697). An entry is looked up
    only while the step that registered it is traced, to differentiate it, so the ones
    registered inside the block are dropped on leaving it; a later trace registers its own.
    Does nothing if TensorFlow's registry changes shape.
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if before is not None:
            for name in [n for n in registry if n not in before]:
                if isinstance(name, str) and name.startswith(_CUSTOM_GRADIENT):
                    del registry[name]
