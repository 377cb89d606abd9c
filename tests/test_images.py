"""An image folder, streamed: split by file, decoded per batch, checked before training."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_hpo, run_python
from test_run import assert_setup_error

STUDY = '''
family = "mlp"
seed = 0
final_seeds = 1
enqueue = []

[data]
dataset = "images"
path = "shapes"
image_size = [8, 8]
validation_size = 0.25
test_size = 0.25
cache = "{cache}"

[budget]
trials = 2
max_epochs = 8

[space]
n_layers = 1
units = [16, 32]
batch_size = 4
learning_rate = 0.01
optimizer = "adam"
'''


def write_images(folder, classes=("dark", "light"), per_class=16, size=(10, 12)):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 40, (*size, 3)).astype(np.uint8)
            half = slice(None, size[1] // 2) if c == 0 else slice(size[1] // 2, None)
            pixels[:, half] += 200  # the bright half tells the classes apart
            tf.io.write_file(str(folder / name / f"{i}.png"), tf.io.encode_png(pixels))
    return folder


def study(tmp_path, cache="none"):
    path = tmp_path / "shapes.toml"
    path.write_text(STUDY.format(cache=cache))
    return path


@pytest.mark.parametrize("cache", ["none", "memory", "disk"])
def test_an_image_folder_study_runs_and_its_model_takes_images_as_loaded(tmp_path, cache):
    write_images(tmp_path / "shapes")
    result = run_hpo(["--study", str(study(tmp_path, cache))], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on images:shapes" in result.stdout and "a test pipeline, sealed" in result.stdout
    assert "held-out test accuracy" in result.stdout
    check = run_python(
        "import numpy as np, keras\n"
        "m = keras.saving.load_model('runs/shapes/model.keras')\n"
        "x = np.zeros((2, 8, 8, 3)); x[0, :, :4] = 220.0; x[1, :, 4:] = 220.0\n"
        "print('CLASSES', m.predict(x, verbose=0).argmax(axis=1).tolist())", tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "CLASSES [0, 1]" in check.stdout  # pixels 0-255 in, the model divides by 255


def test_a_folder_with_one_class_is_a_setup_error(tmp_path):
    write_images(tmp_path / "shapes", classes=("dark",))
    assert_setup_error(run_hpo(["--study", str(study(tmp_path))], tmp_path),
                       "1 class sub-folder(s)", "two or more", cwd=tmp_path)


def test_an_empty_class_is_named(tmp_path):
    write_images(tmp_path / "shapes")
    (tmp_path / "shapes" / "empty").mkdir()
    assert_setup_error(run_hpo(["--study", str(study(tmp_path))], tmp_path),
                       "class 'empty' has no images", cwd=tmp_path)


def test_an_unreadable_image_is_named(tmp_path):
    write_images(tmp_path / "shapes")
    (tmp_path / "shapes" / "light" / "broken.png").write_text("not a picture")
    assert_setup_error(run_hpo(["--study", str(study(tmp_path))], tmp_path),
                       "broken.png is not a PNG, JPEG, GIF or BMP file", cwd=tmp_path)
