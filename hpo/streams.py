"""Data as pipelines: ``tf.data`` datasets and ``keras.utils.PyDataset``\\s, fed as they come.

A pipeline yields ``(inputs, targets)``, batched or not. hpo reads what it needs without holding
the inputs: the element spec (input shape and dtype) and, in one pass over the targets of the
training and validation pipelines, the number of examples and the classes. The test pipeline is
sealed (:class:`SealedStream`): nothing reads it before the final step opens it, once.

A pipeline is not reordered by hpo (as ``model.fit`` does not): shuffle it in the pipeline. An
unbatched one is batched by the trial's ``batch_size``; a batched one keeps its batches unless
the study searches ``batch_size``, then it is cut again (``unbatch().batch(size)``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from hpo.data import Described, FinalSplit, Scaling, infer_task
from hpo.errors import DataError
from hpo.fit import FIXED
from hpo.tasks import CLASSIFICATION

logger = logging.getLogger(__name__)

PREFETCH = 2


def is_pipeline(value: Any) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``."""
    import keras

    return isinstance(value, (tf.data.Dataset, keras.utils.PyDataset))


@dataclass(frozen=True)
class Pipelines:
    """What ``hpo.tune`` or a study's ``loader`` gives: train, validation and (sealed) test."""

    train: Any
    validation: Any
    test: Any = None
    name: str = "pipeline"
    # Known without reading the pipelines (an image folder's): the training and validation
    # targets, the class names, what hpo does in front of the model and how to save that.
    targets: tuple[np.ndarray, np.ndarray] | None = None
    classes: tuple[Any, ...] | None = None
    preprocessing: dict[str, Any] | None = None
    wrap: Any = None
    prepare: Any = None  # applied to each batch (``Feeding.prepare``)


def as_dataset(value: Any, what: str) -> tf.data.Dataset:
    """``value`` as a ``tf.data.Dataset`` of ``(inputs, targets)``; DataError if it is not one.

    A PyDataset is read batch by batch through a generator (its first batch gives the shapes);
    an ``(x, y)`` pair of arrays becomes an unbatched dataset of its rows.
    """
    import keras

    if isinstance(value, tuple) and len(value) == 2 and not is_pipeline(value[0]):
        x, y = (np.asarray(v) for v in value)
        if len(x) != len(y):
            raise DataError(f"{what}: {len(x)} inputs but {len(y)} targets; expected one target "
                            f"per example")
        value = tf.data.Dataset.from_tensor_slices((x, y))
    elif isinstance(value, keras.utils.PyDataset):
        value = _from_py_dataset(value, what)
    elif not isinstance(value, tf.data.Dataset):
        raise DataError(f"{what}: got {type(value).__name__}; expected a tf.data.Dataset, a "
                        f"keras.utils.PyDataset or an (x, y) pair of arrays")
    spec = value.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        got = f"a tuple of {len(spec)}" if isinstance(spec, tuple) else type(spec).__name__
        raise DataError(f"{what} yields {got}; expected (inputs, targets) pairs, as "
                        f"model.fit takes (map it: dataset.map(lambda x, y, w: (x, y)))")
    return value


def _from_py_dataset(data: Any, what: str) -> tf.data.Dataset:
    try:
        n = len(data)
        first = data[0] if n else None
    except Exception as e:  # noqa: BLE001 - the user's PyDataset failed: say where
        raise DataError(f"{what}: reading its first batch raised {type(e).__name__}: {e}") \
            from None
    if first is None:
        raise DataError(f"{what} is empty (len 0); expected batches of (inputs, targets)")
    if not (isinstance(first, tuple) and len(first) == 2):
        raise DataError(f"{what} yields {type(first).__name__} batches; expected (inputs, "
                        f"targets) pairs")

    def signature(value: Any) -> Any:
        value = np.asarray(value)
        return tf.TensorSpec((None, *value.shape[1:]), tf.as_dtype(value.dtype))

    def batches() -> Iterator[Any]:
        for i in range(len(data)):
            yield data[i]
        data.on_epoch_end()

    return tf.data.Dataset.from_generator(
        batches, output_signature=tuple(signature(v) for v in first))


def is_batched(dataset: tf.data.Dataset) -> bool:
    """A batched dataset's targets have an unknown leading size (``batch`` leaves it None)."""
    target = dataset.element_spec[1]
    shape = getattr(target, "shape", None)
    return shape is not None and shape.rank is not None and shape.rank >= 1 and shape[0] is None


def unbatched(dataset: tf.data.Dataset) -> tf.data.Dataset:
    return dataset.unbatch() if is_batched(dataset) else dataset


def example_spec(dataset: tf.data.Dataset) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    """The spec of one example's (inputs, targets), batched or not."""
    return unbatched(dataset).element_spec


def read_targets(dataset: tf.data.Dataset, what: str) -> tuple[np.ndarray, int]:
    """Every target of ``dataset`` in one pass, and how many batches it yields (examples, if
    unbatched); DataError if it is empty or fails."""
    batched = is_batched(dataset)
    targets = dataset.map(lambda x, y: y)
    try:
        parts = [np.asarray(t) for t in (targets if batched else targets.batch(4096))
                 .as_numpy_iterator()]
    except Exception as e:  # noqa: BLE001 - the pipeline itself failed while read
        raise DataError(f"{what} failed when read: {type(e).__name__}: "
                        f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
    y = np.concatenate(parts) if parts else np.zeros(0)
    if not len(y):
        raise DataError(f"{what} is empty; expected (inputs, targets) examples")
    if y.dtype.kind in "SO":
        y = y.astype(str)
    return y, len(parts) if batched else len(y)


@dataclass
class SealedStream:
    """A test pipeline: ``open()`` hands it out once, after the search; nothing reads it before.
    """

    _data: Any = field(repr=False)
    opened: int = 0

    def __len__(self) -> int:
        return 0  # unknown until read; the final step counts it

    def open(self) -> tf.data.Dataset:
        if self.opened:
            raise RuntimeError("the test pipeline was already opened once in this run")
        self.opened += 1
        logger.info("opening the sealed test pipeline")
        return as_dataset(self._data, "test_data")


def fingerprint(spec: Any, *arrays: np.ndarray) -> str:
    """What tells one pipeline's data from another's: its element spec and its targets."""
    digest = hashlib.sha1(repr(spec).encode())
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:10]


@dataclass(frozen=True)
class Feeding:
    """How a pipeline's examples become the model's batches.

    ``batch``: the pipeline's own batch size, kept whatever size a trial asks for (the study
    does not search ``batch_size``); None: batches of the trial's size. ``prepare``: applied to
    each batch (an image folder's pixels / 255: once per batch, not per image). ``evaluate``:
    the batch size for validation and test, no larger than 16 MB of float32 inputs.
    """

    batch: int | None = None
    prepare: Callable[[Any, Any], tuple[Any, Any]] | None = None
    evaluate: int = 1024

    def batches(self, examples: tf.data.Dataset, size: int) -> tf.data.Dataset:
        batched = examples.batch(size)
        return batched.map(self.prepare) if self.prepare else batched


def evaluation_batch(input_shape: tuple[int, ...]) -> int:
    """Examples per validation or test batch: 1024, fewer for large inputs (4 MB at most: an
    evaluation has no gradients to amortize, and its batches are prefetched)."""
    size = 4 * max(1, int(np.prod([d or 1 for d in input_shape])))
    return int(min(1024, max(32, (4 << 20) // size)))


class StreamFeeder:
    """``hpo.fit.Feeder``'s interface over pipelines: training batches of a size, validation.

    ``examples``: how many the training pipeline yields, asserted so that Keras knows an
    epoch's length; ``feeding``: how examples become batches.
    """

    def __init__(self, train: tf.data.Dataset, examples: int,
                 validation: tf.data.Dataset | None = None, feeding: Feeding = Feeding(),
                 n_validation: int | None = None) -> None:
        self._train = train
        self._examples = examples
        self._feeding = feeding
        self._validation = None
        if validation is not None:
            validation = unbatched(validation)
            if n_validation:
                validation = validation.apply(
                    tf.data.experimental.assert_cardinality(n_validation))
            self._validation = (feeding.batches(validation, feeding.evaluate)
                                .prefetch(PREFETCH).with_options(FIXED))

    @property
    def examples(self) -> int:
        return self._examples

    def train(self, batch_size: int) -> tf.data.Dataset:
        feeding = self._feeding
        if feeding.batch and is_batched(self._train) and not feeding.prepare:
            return self._train.prefetch(PREFETCH)  # as the user made them
        examples = unbatched(self._train).apply(
            tf.data.experimental.assert_cardinality(self._examples))
        return (feeding.batches(examples, feeding.batch or batch_size).prefetch(PREFETCH)
                .with_options(FIXED))

    def validation(self) -> tf.data.Dataset | None:
        return self._validation

    def order_callback(self) -> Any:
        """Nothing to tell: a pipeline orders its own examples."""
        import keras

        return keras.callbacks.Callback()


@dataclass(frozen=True)
class StreamSearch(Described):
    """The search part of pipeline data: ``SearchData``'s interface, targets only in memory.

    ``feeding``: how the pipelines' examples become batches. ``preprocessing``, ``wrap``:
    what hpo put in front of the user's model (an image folder's ``Rescaling``); by default
    nothing.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    y_train: np.ndarray
    y_val: np.ndarray
    task: str
    n_classes: int | None
    classes: tuple[Any, ...] | None
    input_shape: tuple[int, ...]
    feeding: Feeding = Feeding()
    preprocessing: dict[str, Any] = field(default_factory=lambda: {"scale": "none"})
    wrap: Any = None

    @property
    def scaling(self) -> Scaling:
        return Scaling("none", fitted=False)

    def feeders(self, k: int, seed: int) -> list[StreamFeeder]:
        return [StreamFeeder(self.train, len(self.y_train), self.validation, self.feeding,
                             len(self.y_val))]

    def probe_feeder(self, n: int) -> StreamFeeder:
        n = min(n, len(self.y_train), len(self.y_val))
        return StreamFeeder(unbatched(self.train).take(n), n, unbatched(self.validation).take(n),
                            Feeding(prepare=self.feeding.prepare), n_validation=n)

    def final_split(self, test: SealedStream, seed: int) -> FinalSplit:
        both = unbatched(self.train).concatenate(unbatched(self.validation))
        n = len(self.y_train) + len(self.y_val)
        feeding = self.feeding
        tested = feeding.batches(unbatched(test.open()), feeding.evaluate)
        return FinalSplit(lambda: StreamFeeder(both, n, feeding=feeding), n, tested,
                          self.preprocessing, self.wrap)


def load_pipelines(given: Pipelines, task: str | None, keep_batches: bool) -> tuple[
        str, StreamSearch, SealedStream]:
    """Check the pipelines and read what the search needs; (name, search part, sealed test).

    Raises DataError, before anything is trained or stored, for a pipeline that does not yield
    (inputs, targets), an empty one, or train and validation that differ in shape or dtype.
    """
    if given.validation is None:
        raise DataError("validation_data is required with a pipeline (a dataset has no rows "
                        "to split): pass validation_data=val_ds")
    train = as_dataset(given.train, "the training data")
    validation = as_dataset(given.validation, "validation_data")
    x_spec, y_spec = example_spec(train)
    for name, other in (("validation_data", validation),):
        other_x, _ = example_spec(other)
        if _shape_dtype(other_x) != _shape_dtype(x_spec):
            raise DataError(f"{name} yields inputs {_describe(other_x)} but the training data "
                            f"{_describe(x_spec)}; expected the same shape and dtype")
    if given.test is not None and isinstance(given.test, tf.data.Dataset):
        test_x, _ = example_spec(as_dataset(given.test, "test_data"))  # the spec, not a read
        if _shape_dtype(test_x) != _shape_dtype(x_spec):
            raise DataError(f"test_data yields inputs {_describe(test_x)} but the training "
                            f"data {_describe(x_spec)}; expected the same shape and dtype")
    if given.targets is not None:
        (y_train, y_val), n_batches = given.targets, len(given.targets[0])
    else:
        y_train, n_batches = read_targets(train, "the training data")
        y_val, _ = read_targets(validation, "validation_data")
    task = task or infer_task(y_train)
    classes = None
    n_classes = None
    if task == CLASSIFICATION:
        classes, n_classes = _classes(np.concatenate([y_train, y_val]))
        classes = given.classes or classes
    batch = _first_batch_size(train) if keep_batches and is_batched(train) else None
    if batch:  # its own batches, as many each epoch: Keras is told how many
        train = train.apply(tf.data.experimental.assert_cardinality(n_batches))
    shape = _input_shape(x_spec)
    feeding = Feeding(batch, given.prepare, evaluation_batch(shape))
    search = StreamSearch(train, validation, y_train, y_val, task, n_classes, classes, shape,
                          feeding,
                          preprocessing=given.preprocessing or {"scale": "none"},
                          wrap=given.wrap)
    name = f"{given.name}:{fingerprint(train.element_spec, y_train, y_val)}"
    return name, search, SealedStream(given.test)


def _first_batch_size(dataset: tf.data.Dataset) -> int:
    """The size of a batched pipeline's first batch (the rest are that size, or the last one
    smaller)."""
    sizes = dataset.map(lambda x, y: tf.shape(tf.nest.flatten(y)[0])[0]).take(1)
    return int(next(iter(sizes.as_numpy_iterator())))


def _classes(y: np.ndarray) -> tuple[tuple[Any, ...], int]:
    if y.ndim != 1:
        raise DataError(f"classification targets must be one class index per example; got "
                        f"shape {y.shape[1:]} per example (one-hot: use argmax; several "
                        f"targets: task = \"regression\")")
    if y.dtype.kind not in "iu":
        raise DataError(f"a pipeline's class targets must be integer indices 0..K-1; got "
                        f"{y.dtype} (map text labels to indices in the pipeline)")
    if y.min() < 0:
        raise DataError(f"class targets must be indices 0..K-1; found {int(y.min())}")
    n = int(y.max()) + 1
    if n < 2:
        raise DataError("the targets hold a single class; a classifier needs two or more (or "
                        "set task = \"regression\")")
    return tuple(range(n)), n


def _shape_dtype(spec: Any) -> Any:
    return tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), spec)


def _describe(spec: Any) -> str:
    parts = tf.nest.map_structure(lambda s: f"{tuple(s.shape)} {s.dtype.name}", spec)
    return str(parts)


def _input_shape(spec: Any) -> tuple[int, ...]:
    first = tf.nest.flatten(spec)[0]
    return tuple(int(d) if d is not None else 0 for d in first.shape)
