"""Data sets and splits: train / validation (or k folds over both) for the search, a sealed test
split for the end.

``load_dataset`` returns a :class:`Dataset` whose ``search`` part is all that the objective
gets. The test split sits in a :class:`SealedSplit` that only the final step opens, once.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from hpo.errors import DataError
from hpo.spec import DataSpec
from hpo.tasks import CLASSIFICATION, REGRESSION, looks_like_classes

if TYPE_CHECKING:
    from hpo.fit import Feeder

logger = logging.getLogger(__name__)

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_FILE = "mnist.npz"


@dataclass(frozen=True)
class DataInfo:
    """What a model builder is told about the data: its input shape, the task and its outputs.

    A classifier ends in ``n_classes`` outputs (or one sigmoid output for two classes); a
    regression model in ``n_outputs`` (the width of the targets).
    """

    input_shape: tuple[int, ...]
    task: str = CLASSIFICATION
    n_classes: int | None = None
    n_outputs: int = 1
    classes: tuple[Any, ...] | None = None  # the original labels, by class index

    def output_widths(self) -> tuple[int, ...]:
        """The output widths a model for this data may end in."""
        if self.task == REGRESSION:
            return (self.n_outputs,)
        return (self.n_classes, 1) if self.n_classes == 2 else (int(self.n_classes or 0),)


@dataclass(frozen=True)
class Scaling:
    """How inputs are scaled: ``(x - shift) / divide``, statistics of training data only.

    ``unit``: 8-bit inputs divided by 255; others min-max to [0, 1] (one range for images,
    one per column for tables). ``standardize``: per feature, mean 0 and standard deviation 1.
    ``none``: as they are (as float32).
    """

    kind: str
    shift: np.ndarray | float = 0.0
    divide: np.ndarray | float = 1.0
    fitted: bool = True  # False: the same whatever the data (none; 8-bit pixels / 255)

    @classmethod
    def fit(cls, kind: str, x: np.ndarray) -> Scaling:
        if kind == "none":
            return cls(kind, fitted=False)
        if kind == "unit" and x.dtype == np.uint8:
            return cls(kind, 0.0, 255.0, fitted=False)
        x = x.astype(np.float32, copy=False)
        image = x.ndim >= 3
        if kind == "unit":
            low = x.min() if image else x.min(axis=0)
            span = (x.max() if image else x.max(axis=0)) - low
        else:
            low, span = x.mean(axis=0), x.std(axis=0)
        span = np.where(span > 0, span, 1.0).astype(np.float32)
        return cls(kind, np.asarray(low, dtype=np.float32), span)

    def refit(self, x: np.ndarray) -> Scaling:
        """The same kind of scaling, fitted on ``x``."""
        return Scaling.fit(self.kind, x)

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if self.kind == "none":
            return x
        return ((x - self.shift) / self.divide).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        return (x * self.divide + self.shift).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """What an export stores so that a model is fed the way it was trained."""
        def plain(v: Any) -> Any:
            return np.asarray(v, dtype=float).round(7).tolist()

        return {"scale": self.kind, "formula": "(x - shift) / divide", "shift": plain(self.shift),
                "divide": plain(self.divide)}


@dataclass(frozen=True)
class FinalSplit:
    """What the final step trains on (train + validation) and tests on, opened once.

    ``feeder()``: a new feeder for each retrain, so that each sees the data order its trial
    saw first; ``test``: ``(x, y)`` arrays or a pipeline; ``wrap(model)``: the model that takes
    the data as it was read (the preprocessing in front of it); ``preprocessing``: how, for
    best.json.
    """

    feeder: Callable[[], Any]  # a new feeder of train + validation for each retrain
    n_train: int
    test: Any
    preprocessing: dict[str, Any]
    wrap: Any = None


class Described:
    """What a builder is told about search data (``info()``), from its ``task``, ``n_classes``,
    ``classes``, ``input_shape`` and training targets ``y_train``: for ``SearchData`` and
    ``hpo.streams.StreamSearch`` alike."""

    task: str
    n_classes: int | None
    classes: tuple[Any, ...] | None
    y_train: np.ndarray
    input_shape: tuple[int, ...]

    @property
    def n_outputs(self) -> int:
        if self.task == CLASSIFICATION:
            return int(self.n_classes or 0)
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])

    def info(self) -> DataInfo:
        return DataInfo(self.input_shape, self.task, self.n_classes, self.n_outputs,
                        self.classes)


@dataclass(frozen=True)
class SearchData(Described):
    """What the search may see: the training and validation splits, scaled by ``scaling``
    (fitted on the training split alone)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int | None
    task: str = CLASSIFICATION
    scaling: Scaling = field(default_factory=lambda: Scaling("none", fitted=False))
    classes: tuple[Any, ...] | None = None
    # A table's raw rows (hpo.tables), from which every retrain refits its encoding; None:
    # the raw inputs are ``scaling.invert`` of the scaled ones.
    raw_train: np.ndarray | None = field(default=None, repr=False)
    raw_val: np.ndarray | None = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def holdout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.x_train, self.y_train, self.x_val, self.y_val

    def feeders(self, k: int, seed: int) -> list[Feeder]:
        """What a trial trains on: the holdout split, or (k >= 2) each of k folds."""
        from hpo.fit import Feeder

        splits = self.fold_splits(k, seed) if k else [self.holdout()]
        return [Feeder(*split, seed=seed) for split in splits]

    def probe_feeder(self, n: int) -> Feeder:
        """The first ``n`` examples of each search split, for a builder's check."""
        from hpo.fit import Feeder

        return Feeder(self.x_train[:n], self.y_train[:n], self.x_val[:n], self.y_val[:n])

    def final_split(self, test: SealedSplit, seed: int) -> FinalSplit:
        """Train + validation for the final retrain, scaled by their own statistics, and the
        test split (opened here, once) scaled with them."""
        from hpo.fit import Feeder

        x_raw, y_test = test.open()
        y = np.concatenate([self.y_train, self.y_val])
        scaling, x, (x_test,) = self.refitted(None, [x_raw])
        return FinalSplit(lambda: Feeder(x, y, seed=seed), len(y), (x_test, y_test),
                          scaling.to_json(),
                          getattr(scaling, "wrap", None))

    def train_and_validation(self) -> tuple[np.ndarray, np.ndarray]:
        """Both search splits joined (scaled as the search saw them)."""
        return (np.concatenate([self.x_train, self.x_val]),
                np.concatenate([self.y_train, self.y_val]))

    def refitted(self, rows: np.ndarray | None, others: list[np.ndarray]
                 ) -> tuple[Any, np.ndarray, list[np.ndarray]]:
        """The scaling (or a table's encoding) refitted on ``rows`` of both search splits
        (None: all), applied to them and to the raw arrays ``others``: a retrain is scaled by
        statistics of its own training data. A scaling that fits nothing keeps the arrays
        the search saw."""
        if not self.scaling.fitted:
            x, _ = self.train_and_validation()
            return (self.scaling, x if rows is None else x[rows],
                    [self.scaling.apply(o) for o in others])
        raw = self._raw() if rows is None else self._raw()[rows]
        scaling = self.scaling.refit(raw)
        return scaling, scaling.apply(raw), [scaling.apply(o) for o in others]

    def _raw(self) -> np.ndarray:
        """Both search splits' inputs as read (a table's raw rows), train first."""
        if self.raw_train is not None and self.raw_val is not None:
            return np.concatenate([self.raw_train, self.raw_val])
        return self.scaling.invert(self.train_and_validation()[0])

    def rescaled(self, x_train: np.ndarray, others: list[np.ndarray]
                 ) -> tuple[Scaling, np.ndarray, list[np.ndarray]]:
        """``x_train`` (scaled as the search saw it) and the raw ``others``, scaled by
        statistics of ``x_train``'s raw form (arrays, not tables)."""
        if not self.scaling.fitted:
            return self.scaling, x_train, [self.scaling.apply(o) for o in others]
        raw = self.scaling.invert(x_train)
        scaling = self.scaling.refit(raw)
        return scaling, scaling.apply(raw), [scaling.apply(o) for o in others]

    def fold_splits(self, k: int, seed: int
                    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """k (x_train, y_train, x_val, y_val) folds of both search splits, each scaled by its
        own training part."""
        y = np.concatenate([self.y_train, self.y_val])
        out = []
        for train, val in self.folds(k, seed):
            scaling, x_tr, _ = self.refitted(train, [])
            x_va = (scaling.apply(self._raw()[val]) if self.scaling.fitted
                    else self.train_and_validation()[0][val])
            out.append((x_tr, y[train], x_va, y[val]))
        return out

    def folds(self, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """k (train, validation) index pairs into ``train_and_validation()``: each example is
        validated on exactly once. Raises DataError when the search splits cannot make k folds.
        """
        y = np.concatenate([self.y_train, self.y_val])
        # Stratified for classification, as the holdout split is: every fold is scored on the
        # same class mix, so fold scores differ by the model, not by which classes it got.
        if self.task == CLASSIFICATION:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        else:
            splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        try:
            return list(splitter.split(np.zeros(len(y)), y))
        except ValueError as e:
            raise DataError(f"[data] cv_folds = {k} cannot split the {len(y)} training and "
                            f"validation examples: {e}; lower cv_folds") from None


@dataclass
class SealedSplit:
    """The held-out test split. ``open()`` hands it out once; the search never gets it."""

    _x: np.ndarray = field(repr=False)
    _y: np.ndarray = field(repr=False)
    opened: int = 0

    def __len__(self) -> int:
        return len(self._y)

    def open(self) -> tuple[np.ndarray, np.ndarray]:
        if self.opened:
            raise RuntimeError("the test split was already opened once in this run; a second "
                               "look would turn it into a validation set")
        self.opened += 1
        logger.info("opening the sealed test split (%d examples)", len(self._y))
        return self._x, self._y


@dataclass(frozen=True)
class Dataset:
    name: str
    search: SearchData
    test: SealedSplit


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """``--data-dir`` over ``$HPO_DATA_DIR`` over nothing."""
    value = data_dir if data_dir is not None else os.environ.get("HPO_DATA_DIR")
    return Path(value) if value else None


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def load_dataset(spec: DataSpec, data_dir: str | os.PathLike[str] | None = None,
                 seed: int = 0, arrays: Arrays | None = None) -> Dataset:
    """Load ``spec.dataset`` once and split it; raises DataError with a way out.

    ``arrays`` (x, y, x_test, y_test; the test pair may be None) are the data of
    ``dataset = "arrays"``, given from Python. Without a given test split one is carved from
    the data (``spec.test_size``, seeded, stratified for classification) and sealed. A CSV's
    rows stay raw, encoded by a ``hpo.tables.TableEncoding`` fitted on the training split.
    """
    name, x, y, x_test, y_test, columns = _read(spec, data_dir, seed, arrays)
    if columns is None:
        x = _with_channel(_check_xy(x, y, "x", "y"))
        if x_test is not None:
            x_test = _with_channel(_check_xy(x_test, y_test, "x_test", "y_test"))
            if x_test.shape[1:] != x.shape[1:]:
                raise DataError(f"the training inputs are {x.shape[1:]} but the test inputs "
                                f"are {x_test.shape[1:]}; expected the same shape")
    task, y, y_test, classes = _targets(spec, y, y_test)
    stratify = task == CLASSIFICATION
    if x_test is None:
        x, x_test, y, y_test = _split(x, y, spec.test_size, seed, stratify, "test_size")
    x_tr, x_val, y_tr, y_val = _split(x, y, spec.validation_size, seed, stratify,
                                      "validation_size")
    kind = spec.scale if spec.scale != "auto" else ("unit" if x.ndim >= 3 else "standardize")
    if columns is not None:
        from hpo.tables import TableEncoding

        encoding = TableEncoding.fit(kind, columns, x_tr)
        search = SearchData(encoding.apply(x_tr), y_tr, encoding.apply(x_val), y_val,
                            len(classes) if classes else None, task, encoding, classes,
                            raw_train=x_tr, raw_val=x_val)
    else:
        scaling = Scaling.fit(kind, x_tr)
        search = SearchData(scaling.apply(x_tr), y_tr, scaling.apply(x_val), y_val,
                            len(classes) if classes else None, task, scaling, classes)
    if spec.cv_folds:
        search.folds(spec.cv_folds, seed)  # an impossible k stops here, before any study exists
    return Dataset(name, search, SealedSplit(x_test, y_test))


def _read(spec: DataSpec, data_dir: str | os.PathLike[str] | None, seed: int,
          arrays: Arrays | None) -> tuple[str, Any, Any, Any, Any, Any]:
    """(name, x, y, x_test, y_test, a table's columns or None), as read."""
    if spec.dataset == "mnist":
        return ("mnist", *_load_mnist(resolve_data_dir(data_dir)), None)
    if spec.dataset == "digits":
        return ("digits", *_load_digits(seed), None)
    if spec.dataset == "arrays":
        if arrays is None:
            raise DataError("[data] dataset = \"arrays\" is given from Python: hpo.tune(build, "
                            "x, y, ...)")
        x, y, x_test, y_test = (None if a is None else np.asarray(a) for a in arrays)
        # Other arrays of the same shapes are another study: a resumed one must get the same.
        return f"arrays:{_fingerprint(x, y, x_test, y_test)}", x, y, x_test, y_test, None
    path = find_data_path(spec.path or "", spec.base_dir)
    name = f"{spec.dataset}:{path.stem}"
    if spec.dataset == "csv":
        return (name, *_read_tables(spec, path))
    x, y, x_test, y_test = load_npz(path)
    if spec.test_path:
        x_test, y_test, *_ = load_npz(find_data_path(spec.test_path, spec.base_dir))
    return name, x, y, x_test, y_test, None


def _read_tables(spec: DataSpec, path: Path) -> tuple[Any, ...]:
    """A CSV's raw rows and target, and a test CSV's read with the same column kinds."""
    from hpo.tables import CATEGORICAL, NUMERIC, read_table

    columns, x, y = read_table(path, str(spec.target), spec.categorical, spec.numeric,
                               spec.ignore)
    if not spec.test_path:
        return x, y, None, None, columns
    test_path = find_data_path(spec.test_path, spec.base_dir)
    kinds = {kind: tuple(c.name for c in columns if c.kind == kind)
             for kind in (CATEGORICAL, NUMERIC)}
    ignore = tuple(spec.ignore)
    test_columns, x_test, y_test = read_table(test_path, str(spec.target), kinds[CATEGORICAL],
                                              kinds[NUMERIC], ignore)
    if [c.name for c in test_columns] != [c.name for c in columns]:
        raise DataError(f"CSV {test_path} has the feature columns "
                        f"{', '.join(c.name for c in test_columns)}; the training CSV "
                        f"{', '.join(c.name for c in columns)}; expected the same")
    return x, y, x_test, y_test, columns


def _targets(spec: DataSpec, y: np.ndarray, y_test: np.ndarray | None
             ) -> tuple[str, np.ndarray, np.ndarray | None, tuple[Any, ...] | None]:
    """The task (given or inferred), the targets as the model takes them, and the classes."""
    task = spec.task or infer_task(y)
    if task != CLASSIFICATION:
        return task, *_regression_targets(y, y_test), None
    y, y_test, classes = _encode_labels(y, y_test)
    if len(classes) < 2:
        raise DataError(f"the labels hold a single class ({classes[0]!r}); a classifier "
                        f"needs two or more (or set [data] task = \"regression\")")
    return task, y, y_test, tuple(c.item() if hasattr(c, "item") else c for c in classes)


def _fingerprint(*arrays: np.ndarray | None) -> str:
    import hashlib

    digest = hashlib.sha1()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            digest.update(str((a.shape, a.dtype.str)).encode())
            digest.update(a.tobytes() if a.nbytes <= 64 << 20 else a[:: max(1, len(a) // 4096)]
                          .tobytes())
    return digest.hexdigest()[:10]


def infer_task(y: np.ndarray) -> str:
    """Text or boolean labels, and whole numbers that look like class codes
    (``hpo.tasks.looks_like_classes``): classification; other numbers: regression."""
    if y.dtype.kind in "iu" and y.ndim == 1 and not looks_like_classes(y):
        logger.warning("the targets are %d distinct whole numbers, not numbered as classes: "
                       "taken as a regression (set [data] task = \"classification\" if they "
                       "are classes)", len(np.unique(y)))
        return REGRESSION
    if y.dtype.kind in "iubUSO":
        return CLASSIFICATION
    return REGRESSION


def _encode_labels(y: np.ndarray, y_test: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Labels as class indices 0..K-1 (already so for MNIST's digits), and the classes."""
    if y.ndim != 1:
        raise DataError(f"classification labels must be one per example, shape (N,); got "
                        f"{y.shape} (for one-hot labels pass their argmax; several targets "
                        f"are a regression: [data] task = \"regression\")")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise DataError("[data] task = \"classification\" but the labels are not whole "
                        "numbers; use task = \"regression\" for continuous targets")
    every = y if y_test is None else np.concatenate([y, y_test])
    classes = np.unique(every)
    y = np.searchsorted(classes, y).astype(np.int32)
    y_test = None if y_test is None else np.searchsorted(classes, y_test).astype(np.int32)
    return y, y_test, classes


def _regression_targets(y: np.ndarray, y_test: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    out = []
    for name, values in (("y", y), ("y_test", y_test)):
        if values is None:
            out.append(None)
            continue
        if values.dtype.kind not in "iuf":
            raise DataError(f"regression targets {name} must be numbers; got dtype "
                            f"{values.dtype}")
        values = values.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise DataError(f"{name} holds {int((~np.isfinite(values)).sum())} NaN or "
                            f"infinite target(s); drop or fill those examples")
        out.append(values)
    return out[0], out[1]


def _split(x: np.ndarray, y: np.ndarray, size: int | float, seed: int, stratify: bool,
           key: str) -> tuple[np.ndarray, ...]:
    if stratify:
        labels, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            label = labels[counts.argmin()]
            raise DataError(f"[data] {key}: class {label} has only {counts.min()} example; a "
                            f"stratified split needs at least 2 of each class (one on each "
                            f"side); add examples of it or drop the class")
    try:
        return tuple(train_test_split(x, y, test_size=size, random_state=seed,
                                      stratify=y if stratify else None))
    except ValueError as e:
        raise DataError(f"[data] {key} = {size!r} cannot split {len(y)} examples: {e}") \
            from None


def find_data_path(path_text: str, base_dir: str | None) -> Path:
    """A data path as written in a study file: relative to the file's folder, else the working
    directory."""
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base_dir and (Path(base_dir) / path).exists():
        return Path(base_dir) / path
    if not path.exists():
        where = f" (looked in {base_dir} and {Path.cwd()})" if base_dir else ""
        raise DataError(f"data path {path_text} does not exist{where}; check [data] path")
    return path


def _check_xy(x: np.ndarray, y: np.ndarray | None, xname: str, yname: str) -> np.ndarray:
    if y is None:
        raise DataError(f"{xname} is given without {yname}; give both")
    if x.ndim < 2:
        raise DataError(f"{xname} has shape {x.shape}; expected (N, features) or images "
                        f"(N, height, width[, channels])")
    if len(y) != len(x):
        raise DataError(f"{yname} has {len(y)} entries but {xname} has {len(x)} examples; "
                        f"expected one label or target per example")
    if x.dtype.kind not in "iufb":
        raise DataError(f"{xname} must hold numbers; got dtype {x.dtype}")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(f"{xname} holds {int(bad.sum())} NaN or infinite value(s) (the "
                            f"first in example {row}); fill or drop them before tuning")
    return x


def _with_channel(x: np.ndarray) -> np.ndarray:
    """Images (N, H, W) get a channel axis, (N, H, W, 1); tables (N, F) stay as they are."""
    return x[..., None] if x.ndim == 3 else x


def _load_mnist(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    if data_dir is not None:
        path = data_dir / MNIST_FILE
        if not path.is_file():
            raise DataError(
                f"no {MNIST_FILE} in data dir {data_dir}; put Keras's mnist.npz there "
                f"(keys x_train, y_train, x_test, y_test) or use --dataset digits"
            )
        arrays = load_npz(path)
        _check_image_shapes(path, arrays, (28, 28))
        return arrays
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:  # noqa: BLE001 - any failure means: no MNIST here; say how to get it
        raise DataError(
            f"cannot load MNIST: no --data-dir (or $HPO_DATA_DIR) was given and Keras's "
            f"download failed ({type(e).__name__}: {e}); put mnist.npz in a directory and "
            f"pass --data-dir DIR, or run offline with --dataset digits"
        ) from None
    return x_train, y_train, x_test, y_test


def _load_digits(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0  # pixels 0..16 -> [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    return x_train, y_train, x_test, y_test


def load_npz(path: Path) -> Arrays:
    """(x, y, x_test, y_test) from an .npz: Keras's layout (x_train, y_train, x_test, y_test),
    or x_train, y_train (or x, y) alone, the test split then carved from them. No pickles."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; check the path")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if {"x_train", "y_train"} <= files:
                keys = ("x_train", "y_train", "x_test", "y_test")
            elif {"x", "y"} <= files:
                keys = ("x", "y", "x_test", "y_test")
            else:
                missing = [k for k in _NPZ_KEYS if k not in files]
                raise DataError(f"data file {path} lacks {', '.join(missing)}; expected the "
                                f"keys {', '.join(_NPZ_KEYS)} as in Keras's mnist.npz (or x "
                                f"and y, the test split then carved from them)")
            if ("x_test" in files) != ("y_test" in files):
                raise DataError(f"data file {path} has only one of x_test and y_test; give "
                                f"both, or neither to carve the test split from the data")
            arrays = tuple(npz[k] if k in files else None for k in keys)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"data file {path} is not a readable .npz ({type(e).__name__}: {e}); "
                        f"replace it with a good copy") from None
    _check_shapes(path, arrays)
    return arrays


def _check_shapes(path: Path, arrays: Arrays) -> None:
    x_train, y_train, x_test, y_test = arrays
    for xname, x, yname, y in (("x_train", x_train, "y_train", y_train),
                               ("x_test", x_test, "y_test", y_test)):
        if x is None:
            continue
        if x.ndim < 2:
            raise DataError(f"data file {path}: {xname} has shape {x.shape}; expected "
                            f"(N, features) or images (N, height, width[, channels])")
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise DataError(f"data file {path}: {yname} has shape {y.shape}; expected "
                            f"({len(x)},), one label or target per example in {xname}")
    if x_test is not None and x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"data file {path}: x_train examples are {x_train.shape[1:]} but "
                        f"x_test examples are {x_test.shape[1:]}; expected the same shape")


def _check_image_shapes(path: Path, arrays: Arrays, hw: tuple[int, int]) -> None:
    for name, x in zip(("x_train", "x_test"), arrays[::2]):
        if x.shape[1:3] != hw:
            raise DataError(f"data file {path}: {name} has shape {x.shape}; expected "
                            f"(N, {hw[0]}, {hw[1]}) as in Keras's mnist.npz")
