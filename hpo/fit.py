"""How a model is fed on a CPU: the split as one tensor, fed in fixed batches by tf.data.

Measured with ``bench/speed.py`` on MNIST (784-128-64-10, batch 128, 2 cores): fitting NumPy
arrays spends about half of each epoch slicing and converting batches in Python; a ``tf.data``
pipeline over batches already in memory, with ``steps_per_execution``, does not. The search, the
final retrain and the benchmarks all train through this module, so a retrain is fed exactly as
its trial was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

# Batches run per call into the compiled graph. Callbacks still see every epoch's end (pruning
# and early stopping keep their granularity); only per-batch hooks run every 32 batches.
STEPS_PER_EXECUTION = 32
VALIDATION_BATCH = 1024  # evaluation has no gradients: larger batches are simply faster
PREFETCH = 2  # batches made ahead: the pipeline only picks batches already in memory
GATHER = 8  # batches cut from the split per call

# No tf.data autotuning (here and in hpo.streams' pipelines). Its thread, one per iterator
# (every epoch's), can outlive the iterator by seconds: a trial's iterators freed by the garbage
# collector then held the whole process (and its GIL) in their destructor for 1-38 s, in a third
# of bench/overhead.py's runs.
FIXED = tf.data.Options()
FIXED.autotune.enabled = False

# No XLA (Keras leaves it off on CPU-only machines, and so does hpo). Measured here (2 cores,
# MNIST, per epoch after the first): dense networks would train 25-37% faster with it (0.51 ->
# 0.33 s for 784-128-64-10 at batch 128, 4.3 -> 3.2 s for 1024-1024), but every model compiled
# leaves ~14 MB in TensorFlow's XLA cache for good (bench/memory.py passed 3.8 GB), and
# convolutions ran 3.4x slower.


class Feeder:
    """``tf.data`` pipelines over one training split (and optionally a validation one).

    The arrays become tensors once. For a batch size, the examples (shuffled when the splits
    were drawn) are cut into fixed batches by viewing the tensor as ``(n_batches, batch_size,
    ...)``, which copies nothing, and every epoch visits the batches in a new order. A batch
    size costs no memory of its own: switching between trials' batch sizes neither copies the
    split nor leaves the allocator fragments of copies (tf.data's ``cache()`` did both; see
    bench/memory.py).

    The order of epoch ``e`` depends on the seed and ``e`` alone (``EpochOrder``, a callback
    of every fit, sets ``e``), not on how many epochs this feeder served before: a trial
    resumed at epoch ``e`` from its checkpoint sees the batches an uninterrupted one saw.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
                 y_val: np.ndarray | None = None, seed: int = 0) -> None:
        self._x, self._y = tf.constant(x), tf.constant(y)
        self._seed = seed
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._train: dict[int, tf.data.Dataset] = {}
        self._validation = None
        if x_val is not None and y_val is not None:
            self._validation = (
                tf.data.Dataset.from_tensor_slices((tf.constant(x_val), tf.constant(y_val)))
                .batch(VALIDATION_BATCH).cache().prefetch(PREFETCH).with_options(FIXED)
            )

    @property
    def examples(self) -> int:
        """Training examples per epoch."""
        return int(self._y.shape[0])

    def train(self, batch_size: int) -> tf.data.Dataset:
        if batch_size not in self._train:
            self._train[batch_size] = self._batches(batch_size)
        return self._train[batch_size]

    def _batches(self, batch_size: int) -> tf.data.Dataset:
        n = int(self._y.shape[0])
        full = n // batch_size
        cut = full * batch_size

        def cut_up(t: tf.Tensor) -> tf.Tensor:
            # A leading slice of a tensor shares its buffer: a view, not a copy.
            return tf.reshape(t[:cut], (full, batch_size, *t.shape[1:]))

        xb, yb = cut_up(self._x), cut_up(self._y)
        tail = tf.data.Dataset.from_tensors((self._x[cut:], self._y[cut:])) if cut < n else None
        epoch, seed = self.epoch, self._seed

        def batches(order: tf.Tensor) -> tf.data.Dataset:
            # Eight batches per gather: a map call per batch would cost ~0.1 ms each (+15% of
            # an MNIST epoch); per eight, the epoch runs as fast as a plain shuffle's.
            return (tf.data.Dataset.from_tensor_slices(order).batch(GATHER)
                    .map(lambda i: (tf.gather(xb, i), tf.gather(yb, i))).unbatch())

        def in_epoch_order(_: tf.Tensor) -> tf.data.Dataset:
            # Read when an epoch's iterator starts (after EpochOrder set it): a stateless
            # shuffle of the batches, a function of the seed and the epoch.
            key = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
            order = tf.random.experimental.stateless_shuffle(tf.range(full, dtype=tf.int64),
                                                             seed=key)
            if tail is None:
                return batches(order)
            # The last, smaller batch at a place of its own in the order.
            at = tf.random.stateless_uniform([], seed=key, maxval=full + 1, dtype=tf.int64)
            return batches(order[:at]).concatenate(tail).concatenate(batches(order[at:]))

        n_batches = full + (tail is not None)
        return (tf.data.Dataset.from_tensors(0).flat_map(in_epoch_order)
                .apply(tf.data.experimental.assert_cardinality(n_batches))
                .prefetch(PREFETCH).with_options(FIXED))

    def order_callback(self) -> keras.callbacks.Callback:
        """The callback that tells this feeder which epoch a fit is in."""
        return EpochOrder(self.epoch)

    def validation(self) -> tf.data.Dataset | None:
        return self._validation


class EpochOrder(keras.callbacks.Callback):
    """Sets a feeder's epoch at each epoch's start (Keras makes the epoch's iterator after)."""

    def __init__(self, epoch: tf.Variable) -> None:
        super().__init__()
        self._epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch.assign(epoch)


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
            for name in set(registry) - before:
                if str(name).startswith(_CUSTOM_GRADIENT):
                    del registry[name]


def new_session(seed: int, free_memory: bool = False) -> None:
    """A fresh Keras session under ``seed``: ``keras.backend.clear_session`` (with a full
    garbage collection when ``free_memory``), then ``keras.utils.set_random_seed``.

    Both empty TensorFlow's eager kernel cache, so each model rebuilds its kernels (~20 ms a
    trial, 0.2% of a 10-second trial). An earlier version kept the cache by replacing a private
    TensorFlow function during these calls; it went, as hpo does not patch its dependencies.
    """
    keras.backend.clear_session(free_memory=free_memory)
    keras.utils.set_random_seed(seed)
