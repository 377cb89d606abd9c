"""Data as it comes: tf.data pipelines and PyDatasets from Python, a study file's loader."""

from __future__ import annotations

import datetime
import sqlite3

import keras
import pytest
import tensorflow as tf
from conftest import run_hpo
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from test_run import assert_setup_error

import hpo
from hpo.errors import HpoError


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32")
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, random_state=0,
                                                      stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2,
                                                      random_state=0, stratify=y_rest)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def dataset(pair, batch=None):
    ds = tf.data.Dataset.from_tensor_slices(pair)
    return ds.batch(batch) if batch else ds


def build(trial):
    return keras.Sequential([keras.Input((64,)),
                             keras.layers.Dense(trial.suggest_int("units", 8, 32),
                                                activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def tune(tmp_path, *args, **kwargs):
    options = dict(trials=2, max_epochs=2, final_seeds=1, verbose=False,
                   storage=f"sqlite:///{tmp_path}/s.db", out_dir=tmp_path / "out")
    return hpo.tune(build, *args, **{**options, **kwargs})


def test_a_test_pipeline_is_first_read_after_the_search_ended(tmp_path, digits):
    train, val, (x_test, y_test) = digits
    reads: list[datetime.datetime] = []

    def rows():
        reads.append(datetime.datetime.now())
        yield from zip(x_test, y_test)

    test_ds = tf.data.Dataset.from_generator(rows, output_signature=(
        tf.TensorSpec((64,), tf.float32), tf.TensorSpec((), tf.int64)))
    result = tune(tmp_path, dataset(train, 32), validation_data=dataset(val, 64),
                  test_data=test_ds)
    ended = max(t.datetime_complete for t in result.study.trials)
    assert reads and reads[0] >= ended
    assert result.result["n_test"] == len(y_test)
    assert 0.3 < result.test_score <= 1.0


def test_an_unbatched_pipeline_is_batched_by_the_searched_batch_size(tmp_path, digits):
    train, val, test = digits
    result = tune(tmp_path, dataset(train), validation_data=dataset(val),
                  test_data=dataset(test), space={"batch_size": [16, 64]})
    sizes = {t.params["batch_size"] for t in result.study.trials}
    assert sizes <= {16, 64}
    assert result.result["n_train"] == len(train[1]) + len(val[1])  # train + validation
    # A batched pipeline while the space searches batch_size is cut again, not refused.
    (tmp_path / "b").mkdir()
    again = tune(tmp_path / "b", dataset(train, 50), validation_data=dataset(val, 50),
                 test_data=dataset(test, 50), space={"batch_size": [16, 64]})
    assert again.test_score is not None


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, size):
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        part = slice(i * self.size, (i + 1) * self.size)
        return self.x[part], self.y[part]


def test_a_py_dataset_is_tuned_as_model_fit_takes_it(tmp_path, digits):
    train, val, test = digits
    result = tune(tmp_path, Batches(*train, 32), validation_data=Batches(*val, 64),
                  test_data=Batches(*test, 64))
    assert result.result["n_test"] == len(test[1])
    assert 0.3 < result.test_score <= 1.0
    model = keras.saving.load_model(tmp_path / "out" / "model.keras")
    assert model.predict(test[0][:3], verbose=0).shape == (3, 10)


def test_arrays_with_a_validation_pair_go_through_the_same_path(tmp_path, digits):
    train, val, test = digits
    result = tune(tmp_path, *train, validation_data=val, test_data=test)
    assert result.result["n_train"] == len(train[1]) + len(val[1])


@pytest.mark.parametrize("kwargs, fragments", [
    ({"validation_data": None}, ["validation_data is required"]),
    ({"test_data": None}, ["test_data", "final=False"]),
    ({"cv_folds": 3}, ["cv_folds = 3 is not supported with a pipeline"]),
])
def test_a_pipeline_without_what_it_needs_stops_before_anything_is_stored(
        tmp_path, digits, kwargs, fragments):
    train, val, test = digits
    given = {"validation_data": dataset(val, 8), "test_data": dataset(test, 8), **kwargs}
    with pytest.raises(HpoError) as error:
        tune(tmp_path, dataset(train, 8), **given)
    for fragment in fragments:
        assert fragment in str(error.value)
    assert not (tmp_path / "s.db").exists() or not _studies(tmp_path / "s.db")


def test_without_a_test_pipeline_final_false_searches_only(tmp_path, digits):
    train, val, _ = digits
    result = tune(tmp_path, dataset(train, 32), validation_data=dataset(val, 32), final=False)
    assert result.test_score is None and len(result.study.trials) == 2


def _studies(path):
    with sqlite3.connect(path) as db:
        return db.execute("select count(*) from studies").fetchone()[0]


def test_bad_pipelines_are_named_before_any_training(tmp_path, digits):
    (x, y), val, test = digits
    cases = [
        (tf.data.Dataset.from_tensor_slices(x), ["yields TensorSpec", "(inputs, targets)"]),
        (tf.data.Dataset.from_tensor_slices((x, y, y)), ["a tuple of 3", "(inputs, targets)"]),
        (dataset((x[:0], y[:0])), ["the training data is empty"]),
        (dataset((x[:, :32], y)), ["validation_data yields inputs", "same shape"]),
    ]
    for train, fragments in cases:
        with pytest.raises(HpoError) as error:
            tune(tmp_path, train, validation_data=dataset(val), test_data=dataset(test))
        for fragment in fragments:
            assert fragment in str(error.value), str(error.value)


LOADER = '''
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits


def load():
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32").reshape(-1, 8, 8, 1)
    parts = [(x[i::5], y[i::5]) for i in range(5)]
    train = tf.data.Dataset.from_tensor_slices((np.concatenate([p[0] for p in parts[:3]]),
                                                np.concatenate([p[1] for p in parts[:3]])))
    return train.batch(32), tf.data.Dataset.from_tensor_slices(parts[3]).batch(64), \\
        tf.data.Dataset.from_tensor_slices(parts[4]).batch(64)


def two():
    return load()[:2] + (None, None)


def broken():
    raise OSError("the bucket is not mounted")
'''

LOADER_STUDY = '''
family = "mlp"
seed = 1
final_seeds = 1
enqueue = []

[data]
loader = "{loader}"

[budget]
trials = {trials}
max_epochs = 2

[sampler]
name = "random"

[space]
units = [8, 16]
n_layers = 1
'''


def write_loader_study(tmp_path, loader="digits_loader:load", trials=3):
    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    (folder / "digits_loader.py").write_text(LOADER)
    path = folder / "piped.toml"
    path.write_text(LOADER_STUDY.format(loader=loader, trials=trials))
    return path


def test_a_loader_study_runs_on_two_workers_and_resumes(tmp_path):
    study = write_loader_study(tmp_path)
    first = run_hpo(["--study", str(study), "--workers", "2", "--trials", "2", "--no-final"],
                    tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "on loader:digits_loader:load" in first.stdout
    second = run_hpo(["--study", str(study)], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "running 1 trials (2 already stored)" in second.stdout
    assert "test" in second.stdout and (tmp_path / "runs" / "piped" / "model.keras").is_file()


@pytest.mark.parametrize("loader, fragments", [
    ("no_such_module:load", ["[data] loader: cannot import module 'no_such_module'"]),
    ("digits_loader:broken", ["raised OSError: the bucket is not mounted"]),
    ("digits_loader:two", ["returned 4 values", "(train, validation, test)"]),
])
def test_a_bad_loader_is_a_one_line_error(tmp_path, loader, fragments):
    study = write_loader_study(tmp_path, loader)
    assert_setup_error(run_hpo(["--study", str(study)], tmp_path), *fragments, cwd=tmp_path)


def test_cv_folds_with_a_loader_is_refused_with_the_reason(tmp_path):
    study = write_loader_study(tmp_path)
    study.write_text(study.read_text().replace('[data]\n', '[data]\ncv_folds = 3\n'))
    assert_setup_error(run_hpo(["--study", str(study)], tmp_path),
                       "cv_folds = 3 is not supported with a pipeline", cwd=tmp_path)
