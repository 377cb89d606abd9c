"""An image folder, streamed: one sub-folder of images per class, never read whole.

Keras's ``image_dataset_from_directory`` lists the files and names the classes; hpo splits the
file list (seeded, stratified: train / validation / test, the test part sealed) and decodes
each image when a batch needs it, as Keras does (``decode_image``, then a bilinear resize to
``[data] image_size``). ``[data] cache`` keeps the decoded images (8-bit) between epochs:
``"none"`` decodes them again each epoch and memory does not grow with the number of images;
``"memory"`` holds them all (fastest when they fit); ``"disk"`` writes them to a temporary
file. The model sees pixels divided by 255, and ``model.keras`` divides itself: it takes
images as they are loaded (0-255).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from hpo.data import find_data_path
from hpo.errors import DataError
from hpo.spec import DataSpec
from hpo.streams import Pipelines

_MAGIC = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif", b"BM": "bmp"}
CHANNELS = {"rgb": 3, "grayscale": 1, "rgba": 4}
SHUFFLE_BUFFER = 10_000  # decoded images a cached split draws each batch from


def list_images(path: Path, data: DataSpec) -> tuple[list[str], np.ndarray, list[str]]:
    """The folder's image files, their class indices and the class names; DataError for fewer
    than two classes, an empty class or a file that is not an image."""
    import keras

    if not path.is_dir():
        raise DataError(f"images path {path} is not a folder; expected one sub-folder of "
                        f"images per class")
    try:
        listing = keras.utils.image_dataset_from_directory(
            path, labels="inferred", label_mode="int", color_mode=data.color_mode,
            image_size=tuple(data.image_size), batch_size=None, shuffle=False, verbose=False)
    except ValueError as e:
        raise DataError(f"cannot read images from {path}: {e}") from None
    names = list(listing.class_names)
    files = list(listing.file_paths)
    classes = {name: i for i, name in enumerate(names)}
    labels = np.array([classes[Path(f).relative_to(path).parts[0]] for f in files])
    counts = np.bincount(labels, minlength=len(names))
    if len(names) < 2:
        raise DataError(f"images folder {path} has {len(names)} class sub-folder(s); a "
                        f"classifier needs two or more (one sub-folder of images per class)")
    if counts.min() == 0:
        raise DataError(f"images folder {path}: class '{names[int(counts.argmin())]}' has no "
                        f"images; add some or remove the sub-folder")
    for name in files:
        _check_readable(name)
    return files, labels, names


def _check_readable(name: str) -> None:
    """A cheap look at the file's first bytes: an image format Keras decodes."""
    try:
        with open(name, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise DataError(f"cannot read image {name}: {e.strerror}") from None
    if not any(head.startswith(magic) for magic in _MAGIC):
        raise DataError(f"image {name} is not a PNG, JPEG, GIF or BMP file (it starts "
                        f"{head[:4]!r}); replace or remove it")


def image_pipelines(data: DataSpec, seed: int) -> Pipelines:
    """Train, validation and test pipelines over the folder ``data.path``, with the targets
    already known (from the folder names), so that nothing is decoded to count them."""
    path = find_data_path(data.path or "", data.base_dir)
    files, labels, names = list_images(path, data)
    index = np.arange(len(files))
    rest, test = _split(index, labels, data.test_size, seed, "test_size")
    train, val = _split(rest, labels[rest], data.validation_size, seed, "validation_size")
    files_array = np.array(files)
    size = tuple(int(v) for v in data.image_size)
    channels = CHANNELS[data.color_mode]

    def make(part: np.ndarray, shuffle: bool, cache: str) -> tf.data.Dataset:
        return _pipeline(files_array[part], labels[part], size, channels, cache, shuffle, seed)

    return Pipelines(
        make(train, True, data.cache), make(val, False, data.cache), make(test, False, "none"),
        name=f"images:{path.name}", targets=(labels[train], labels[val]), classes=tuple(names),
        preprocessing={"scale": "unit", "formula": "x / 255", "image_size": list(size),
                       "color_mode": data.color_mode, "cache": data.cache},
        wrap=_rescaling_in_front, prepare=_to_unit)


def _split(index: np.ndarray, labels: np.ndarray, size: int | float, seed: int, key: str
           ) -> tuple[np.ndarray, np.ndarray]:
    try:
        first, second = train_test_split(index, test_size=size, random_state=seed,
                                         stratify=labels)
    except ValueError as e:
        raise DataError(f"[data] {key} = {size!r} cannot split the {len(index)} images: {e}") \
            from None
    return np.sort(first), np.sort(second)


def _pipeline(files: np.ndarray, labels: np.ndarray, size: tuple[int, int], channels: int,
              cache: str, shuffle: bool, seed: int) -> tf.data.Dataset:
    """(image, label) pairs, decoded on the fly (8-bit; ``_to_unit`` per batch)."""
    def decode(name: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.image.decode_image(tf.io.read_file(name), channels=channels,
                                      expand_animations=False)
        image = tf.image.resize(image, size)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    dataset = tf.data.Dataset.from_tensor_slices((files, labels.astype(np.int64)))
    parallel = max(1, os.cpu_count() or 1)
    if cache == "none":
        if shuffle:
            dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(decode, num_parallel_calls=parallel)
    else:
        dataset = dataset.map(decode, num_parallel_calls=parallel)
        dataset = dataset.cache(_cache_file() if cache == "disk" else "")
        if shuffle:
            dataset = dataset.shuffle(min(len(files), SHUFFLE_BUFFER), seed=seed,
                                      reshuffle_each_iteration=True)
    return dataset


def _to_unit(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of 8-bit images as the model sees them: float pixels in [0, 1]."""
    return tf.cast(x, tf.float32) / 255.0, y


def _cache_file() -> str:
    """A file for tf.data's disk cache, in a folder removed when the process ends."""
    folder = tempfile.mkdtemp(prefix="hpo-images-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(Path(folder) / "cache")


def _rescaling_in_front(model: Any) -> Any:
    """``model`` behind a ``Rescaling(1/255)``: it takes images as loaded (0-255)."""
    import keras

    inputs = keras.Input(model.input_shape[1:], name="images")
    scaled = keras.layers.Rescaling(1 / 255, name="pixels_to_unit")(inputs)
    return keras.Model(inputs, model(scaled), name="model_on_images")
