"""Data sets and splits: train / validation (or k folds over both) for the search, a sealed test
split for the end.

``load_dataset`` returns a :class:`Dataset` whose ``search`` part is all that the objective
gets. The test split sits in a :class:`SealedSplit` that only the final step opens, once.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from hpo.errors import DataError
from hpo.spec import DataSpec

logger = logging.getLogger(__name__)

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_FILE = "mnist.npz"


@dataclass(frozen=True)
class SearchData:
    """What the search may see: the training and validation splits, images scaled to [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def train_and_validation(self) -> tuple[np.ndarray, np.ndarray]:
        """Both search splits joined, for the final retrain."""
        return (np.concatenate([self.x_train, self.x_val]),
                np.concatenate([self.y_train, self.y_val]))

    def folds(self, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """k (train, validation) index pairs into ``train_and_validation()``: each example is
        validated on exactly once. Raises DataError when the search splits cannot make k folds.
        """
        y = np.concatenate([self.y_train, self.y_val])
        # Stratified, as the holdout split is: every fold is scored on the same class mix, so
        # fold scores differ by the model, not by which classes a fold happened to get.
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
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


def load_dataset(spec: DataSpec, data_dir: str | os.PathLike[str] | None = None,
                 seed: int = 0) -> Dataset:
    """Load ``spec.dataset`` once and split it; raises DataError with a way out."""
    if spec.dataset == "mnist":
        x_train, y_train, x_test, y_test = _load_mnist(resolve_data_dir(data_dir))
    elif spec.dataset == "digits":
        x_train, y_train, x_test, y_test = _load_digits(seed)
    else:
        x_train, y_train, x_test, y_test = load_npz(Path(spec.path or ""))
    x_train, x_test = _scale(x_train), _scale(x_test)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    try:
        x_tr, x_val, y_tr, y_val = train_test_split(
            x_train, y_train, test_size=spec.validation_size, random_state=seed,
            stratify=y_train,
        )
    except ValueError as e:
        raise DataError(f"[data] validation_size = {spec.validation_size!r} cannot split "
                        f"{len(y_train)} training examples: {e}") from None
    search = SearchData(x_tr, y_tr.astype(np.int32), x_val, y_val.astype(np.int32), n_classes)
    if spec.cv_folds:
        search.folds(spec.cv_folds, seed)  # an impossible k stops here, before any study exists
    return Dataset(spec.dataset, search, SealedSplit(x_test, y_test.astype(np.int32)))


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


def load_npz(path: Path) -> tuple[np.ndarray, ...]:
    """x_train, y_train, x_test, y_test from an .npz in Keras's layout (no pickles)."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; check the path")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"data file {path} lacks {', '.join(missing)}; expected the "
                                f"keys {', '.join(_NPZ_KEYS)} as in Keras's mnist.npz")
            arrays = tuple(npz[k] for k in _NPZ_KEYS)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"data file {path} is not a readable .npz ({type(e).__name__}: {e}); "
                        f"replace it with a good copy") from None
    _check_shapes(path, arrays)
    return arrays


def _check_shapes(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    x_train, y_train, x_test, y_test = arrays
    for xname, x, yname, y in (("x_train", x_train, "y_train", y_train),
                               ("x_test", x_test, "y_test", y_test)):
        if x.ndim not in (3, 4):
            raise DataError(f"data file {path}: {xname} has shape {x.shape}; expected images "
                            f"(N, height, width) or (N, height, width, channels)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"data file {path}: {yname} has shape {y.shape}; expected "
                            f"({len(x)},), one integer label per image in {xname}")
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DataError(f"data file {path}: {yname} must hold integer class labels >= 0, "
                            f"got dtype {y.dtype}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"data file {path}: x_train images are {x_train.shape[1:]} but x_test "
                        f"images are {x_test.shape[1:]}; expected the same shape")


def _check_image_shapes(path: Path, arrays: tuple[np.ndarray, ...], hw: tuple[int, int]) -> None:
    for name, x in zip(("x_train", "x_test"), arrays[::2]):
        if x.shape[1:3] != hw:
            raise DataError(f"data file {path}: {name} has shape {x.shape}; expected "
                            f"(N, {hw[0]}, {hw[1]}) as in Keras's mnist.npz")


def _scale(x: np.ndarray) -> np.ndarray:
    """float32 with a channel axis, (N, H, W) -> (N, H, W, 1); 8-bit pixels scaled to [0, 1]."""
    x = x.astype(np.float32) / 255.0 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x
