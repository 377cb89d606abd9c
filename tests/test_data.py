from __future__ import annotations

import numpy as np
import pytest
from conftest import write_mnist_like

from hpo.data import load_dataset, load_npz
from hpo.errors import DataError
from hpo.spec import DataSpec


def test_digits_loads_offline_with_three_disjoint_splits():
    data = load_dataset(DataSpec("digits", validation_size=0.25), seed=0)
    s = data.search
    assert s.input_shape == (8, 8, 1) and s.n_classes == 10
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    assert len(s.y_train) + len(s.y_val) + len(data.test) == 1797
    assert len(s.y_val) == pytest.approx(0.25 * (len(s.y_train) + len(s.y_val)), abs=1)


def test_split_is_seeded():
    a = load_dataset(DataSpec("digits"), seed=3).search
    b = load_dataset(DataSpec("digits"), seed=3).search
    c = load_dataset(DataSpec("digits"), seed=4).search
    assert np.array_equal(a.y_val, b.y_val) and not np.array_equal(a.x_val, c.x_val)


def test_sealed_test_split_opens_once():
    data = load_dataset(DataSpec("digits"), seed=0)
    x, y = data.test.open()
    assert len(x) == len(y) == len(data.test)
    with pytest.raises(RuntimeError, match="already opened"):
        data.test.open()


def test_mnist_from_data_dir(tmp_path):
    write_mnist_like(tmp_path / "mnist.npz", n_train=60, n_test=20)
    data = load_dataset(DataSpec("mnist", validation_size=10), tmp_path, seed=0)
    assert data.search.input_shape == (28, 28, 1)
    assert (len(data.search.y_train), len(data.search.y_val), len(data.test)) == (50, 10, 20)


def test_mnist_data_dir_from_environment(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist.npz")
    monkeypatch.setenv("HPO_DATA_DIR", str(tmp_path))
    assert load_dataset(DataSpec("mnist", validation_size=10)).search.input_shape == (28, 28, 1)


def test_missing_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"no mnist.npz in data dir .*--dataset digits"):
        load_dataset(DataSpec("mnist"), tmp_path)


def test_corrupt_file_is_a_data_error(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset(DataSpec("mnist"), tmp_path)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "data.npz"
    objects = np.array([object()] * 4, dtype=object)
    np.savez(path, x_train=objects, y_train=np.arange(4), x_test=objects, y_test=np.arange(4))
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(path)


def test_wrong_mnist_shapes_are_named(tmp_path):
    write_mnist_like(tmp_path / "mnist.npz", shape=(32, 32))
    expected = r"x_train has shape \(60, 32, 32\); expected \(N, 28, 28\)"
    with pytest.raises(DataError, match=expected):
        load_dataset(DataSpec("mnist"), tmp_path)


def test_labels_must_match_images(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((5, 4, 4)), y_train=np.zeros(4, dtype=int),
             x_test=np.zeros((2, 4, 4)), y_test=np.zeros(2, dtype=int))
    with pytest.raises(DataError, match=r"y_train has shape \(4,\); expected \(5,\)"):
        load_npz(path)


def test_missing_keys_are_listed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((5, 4, 4)))
    with pytest.raises(DataError, match="lacks y_train, x_test, y_test"):
        load_npz(path)


def test_folds_validate_every_search_example_once_with_the_class_mix_kept():
    search = load_dataset(DataSpec("digits", cv_folds=5), seed=0).search
    _, y = search.train_and_validation()
    everything = np.arange(len(y))
    folds = search.folds(5, seed=0)
    assert len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate([val for _, val in folds])), everything)
    share = np.bincount(y, minlength=10) / 5
    for train, val in folds:
        assert np.array_equal(np.sort(np.concatenate([train, val])), everything)
        # Stratified: each class is validated on in its share of the examples, give or take one.
        assert np.abs(np.bincount(y[val], minlength=10) - share).max() < 1
    again, other = search.folds(5, seed=0), search.folds(5, seed=1)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(folds, again))
    assert not np.array_equal(folds[0][1], other[0][1])


def test_more_folds_than_a_class_has_examples_is_a_data_error_at_load_time(tmp_path):
    write_mnist_like(tmp_path / "mnist.npz", n_train=60, n_test=20)  # 6 of each class
    with pytest.raises(DataError, match=r"cv_folds = 7 cannot split the 60 .*; lower cv_folds"):
        load_dataset(DataSpec("mnist", validation_size=10, cv_folds=7), tmp_path)
