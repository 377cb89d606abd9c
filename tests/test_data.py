from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import write_mnist_like
from test_objective import tiny_spec

from hpo.data import load_dataset, load_npz
from hpo.errors import DataError
from hpo.sources import load
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


# -- tables, image folders, tasks and scaling -------------------------------------------------

def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def csv_spec(path, **kwargs):
    return DataSpec("csv", path=str(path), target=kwargs.pop("target", "label"),
                    validation_size=kwargs.pop("validation_size", 0.25), **kwargs)


def test_a_csv_is_a_table_with_its_target_column_and_a_carved_sealed_test_split(tmp_path):
    rows = [(i, 2 * i + 0.5, i % 2) for i in range(40)]
    data = load_dataset(csv_spec(write_csv(tmp_path / "t.csv", ["a", "b", "label"], rows),
                                 scale="none"), seed=0)
    s = data.search
    assert s.task == "classification" and s.n_classes == 2 and s.input_shape == (2,)
    assert len(s.y_train) + len(s.y_val) + len(data.test) == 40 and len(data.test) == 8
    x_test, _ = data.test.open()
    # Every example sits in exactly one split: the test split is carved off, not shared.
    seen = np.concatenate([s.x_train[:, 0], s.x_val[:, 0], x_test[:, 0]])
    assert sorted(seen.tolist()) == list(range(40))


def test_float_targets_make_a_regression_and_integers_a_classification(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=x.sum(axis=1))
    np.savez(tmp_path / "c.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    regression = load_dataset(DataSpec("npz", path=str(tmp_path / "r.npz")), seed=0).search
    assert regression.task == "regression" and regression.n_classes is None
    assert regression.info().output_widths() == (1,) and regression.y_train.dtype == np.float32
    binary = load_dataset(DataSpec("npz", path=str(tmp_path / "c.npz")), seed=0).search
    assert binary.task == "classification" and binary.info().output_widths() == (2, 1)


def test_text_labels_are_encoded_and_kept_in_order(tmp_path):
    rows = [(i, ["cat", "dog", "emu"][i % 3]) for i in range(30)]
    search = load_dataset(csv_spec(write_csv(tmp_path / "t.csv", ["a", "label"], rows)),
                          seed=0).search
    assert search.classes == ("cat", "dog", "emu") and set(search.y_train) <= {0, 1, 2}


def test_standardizing_uses_the_training_split_alone_and_is_stored(tmp_path):
    rows = [(i * 10.0, i % 2) for i in range(40)]
    data = load_dataset(csv_spec(write_csv(tmp_path / "t.csv", ["a", "label"], rows),
                                 scale="standardize"), seed=0)
    s = data.search
    assert abs(s.x_train.mean()) < 1e-5 and abs(s.x_train.std() - 1) < 1e-4
    assert abs(s.x_val.mean()) > 1e-3  # scaled with the training split's statistics, not its own
    stored = s.scaling.to_json()
    assert stored["scale"] == "standardize" and stored["formula"].startswith("(x - shift)")
    (column,) = stored["numeric"]
    raw = s.raw_train[:, 0].astype(float)
    assert column["shift"] == pytest.approx(raw.mean()) and not column["missing_indicator"]
    assert np.allclose((raw - column["shift"]) / column["divide"], s.x_train[:, 0], atol=1e-5)


def test_an_images_folder_is_read_with_its_class_subfolders(tmp_path):
    import tensorflow as tf

    for name in ("circle", "square"):
        (tmp_path / "img" / name).mkdir(parents=True)
        for i in range(6):
            pixels = tf.fill((12, 10, 3), 40 * i + (100 if name == "square" else 0))
            tf.io.write_file(str(tmp_path / "img" / name / f"{i}.png"),
                             tf.io.encode_png(tf.cast(pixels, tf.uint8)))
    spec = dataclasses.replace(tiny_spec(), data=DataSpec(
        "images", path=str(tmp_path / "img"), image_size=(8, 8), validation_size=2,
        test_size=4))
    data = load(spec)
    s = data.search
    assert s.input_shape == (8, 8, 3) and s.classes == ("circle", "square")
    (feeder,) = s.feeders(0, 0)
    pixels = np.concatenate([x for x, _ in feeder.train(4).as_numpy_iterator()])
    assert pixels.dtype == np.float32 and pixels.shape == (6, 8, 8, 3)
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0 and pixels.max() > 0.5
    assert (len(s.y_train), len(s.y_val)) == (6, 2) and data.test.opened == 0


@pytest.mark.parametrize("rows, target, fragments", [
    ([(1, 0), (2, 1)], "y", ["no target column 'y'", "its columns: a, label"]),
    ([("", 0), ("", 1)], "label", ["column 'a' is empty in every row", "ignore"]),
    ([(1, 0), ("inf", 1)], "label", ["column 'a' has an infinite value on line 3"]),
    ([(1, 0), (2, "")], "label", ["target column 'label' is empty on 1 line(s)", "line 3"]),
])
def test_a_bad_csv_is_named_with_the_column_and_the_fix(tmp_path, rows, target, fragments):
    path = write_csv(tmp_path / "t.csv", ["a", "label"], rows)
    with pytest.raises(DataError) as caught:
        load_dataset(csv_spec(path, target=target), seed=0)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_class_too_small_to_split_is_named(tmp_path):
    rows = [(i, 0) for i in range(10)] + [(99, 1)]
    with pytest.raises(DataError, match=r"class 1 has only 1 example; a stratified split"):
        load_dataset(csv_spec(write_csv(tmp_path / "t.csv", ["a", "label"], rows)), seed=0)


def test_nan_features_in_arrays_are_refused_before_any_split():
    x = np.ones((20, 3), dtype=np.float32)
    x[4, 1] = np.nan
    with pytest.raises(DataError, match=r"x holds 1 NaN or infinite value\(s\) \(the first in "
                                        r"example 4\)"):
        load_dataset(DataSpec("arrays"), arrays=(x, np.arange(20) % 2, None, None))


def test_arrays_from_python_are_named_by_their_content():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 2
    name = load_dataset(DataSpec("arrays"), arrays=(x, y, None, None)).name
    assert name == load_dataset(DataSpec("arrays"), arrays=(x.copy(), y, None, None)).name
    # A resumed hpo.tune study refuses other data of the same shapes (its identity differs).
    assert name != load_dataset(DataSpec("arrays"), arrays=(x + 1, y, None, None)).name
