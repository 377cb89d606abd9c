"""Tables as they come: text categories, empty cells, column kinds, the target's task."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.data import load_dataset
from hpo.errors import DataError
from hpo.spec import DataSpec
from hpo.tables import CATEGORICAL, NUMERIC, TableEncoding, as_inputs, read_table


def write(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def rows_of(n=60):
    islands = ["Biscoe", "Dream", "Torgersen"]
    return [(i % 7 if i % 10 else "", islands[i % 3] if i % 11 else "", 1 + i % 3,
             "adelie" if i % 2 else "gentoo") for i in range(n)]


def test_column_kinds_are_inferred_and_can_be_overridden(tmp_path):
    path = write(tmp_path / "t.csv", ["mass", "island", "year", "species"], rows_of())
    columns, table, y = read_table(path, "species")
    assert [(c.name, c.kind) for c in columns] == [
        ("mass", NUMERIC), ("island", CATEGORICAL), ("year", NUMERIC)]
    assert np.isnan(table[0, 0]) and table[0, 1] == "" and y.dtype.kind == "U"
    columns, _, _ = read_table(path, "species", categorical=("year",), ignore=("mass",))
    assert [(c.name, c.kind) for c in columns] == [("island", CATEGORICAL),
                                                   ("year", CATEGORICAL)]
    with pytest.raises(DataError, match=r"numeric names column 'island', but line 3 holds 'Dream'"):
        read_table(path, "species", numeric=("island",))
    with pytest.raises(DataError, match=r"\[data\] ignore: CSV .* has no column 'weight'"):
        read_table(path, "species", ignore=("weight",))


def test_the_encoding_is_fitted_on_training_rows_and_never_fails_on_new_ones(tmp_path):
    columns, table, _ = read_table(write(tmp_path / "t.csv", ["mass", "island", "species"],
                                         [r[:2] + r[3:] for r in rows_of()]), "species")
    train = table[:30]
    encoding = TableEncoding.fit("standardize", columns, train)
    (name, fill, shift, divide, indicator), = encoding.numbers
    known = train[:, 0].astype(float)
    assert fill == pytest.approx(np.nanmean(known)) and indicator
    assert encoding.vocabularies == (("island", ("Biscoe", "Dream", "Torgersen", "")),)
    new = np.array([[np.nan, "Biscoe"], [3.0, "Mars"], [3.0, ""]], dtype=object)
    features = encoding.apply(new)
    # mass (scaled), was-empty, then island: the "other" slot first, 3 islands, empty.
    assert features.shape == (3, 2 + 1 + 4)
    assert features[0, 0] == pytest.approx(0.0) and features[0, 1] == 1.0
    assert features[1].tolist()[2:] == [1, 0, 0, 0, 0]  # unseen: the other slot
    assert features[2].tolist()[2:] == [0, 0, 0, 0, 1]  # empty: its own category
    model_inputs = as_inputs(columns, new)
    assert set(model_inputs) == {"mass", "island"}


def test_a_table_s_search_splits_are_encoded_and_its_test_rows_stay_raw(tmp_path):
    path = write(tmp_path / "t.csv", ["mass", "island", "year", "species"], rows_of())
    data = load_dataset(DataSpec("csv", path=str(path), target="species",
                                 validation_size=0.25), seed=0)
    s = data.search
    assert s.task == "classification" and s.classes == ("adelie", "gentoo")
    assert s.x_train.dtype == np.float32 and np.isfinite(s.x_train).all()
    assert s.input_shape == (2 + 5 + 1,)  # mass + was-empty, island (other, 3, empty), year
    x_test, _ = data.test.open()
    assert x_test.dtype == object and x_test.shape[1] == 3


@pytest.mark.parametrize("values, task", [
    ([120_000 + 137 * i for i in range(40)], "regression"),   # a price: not classes
    ([i % 30 for i in range(120)], "classification"),          # codes 0..29
    ([3 + i % 4 for i in range(40)], "classification"),        # a few codes
])
def test_whole_number_targets_are_classes_only_when_they_look_like_codes(tmp_path, values,
                                                                        task):
    rows = [(i * 0.5, v) for i, v in enumerate(values)]
    path = write(tmp_path / "t.csv", ["x", "target"], rows)
    spec = DataSpec("csv", path=str(path), target="target", validation_size=0.4,
                    test_size=0.3)  # room for each of 30 classes on each side
    assert load_dataset(spec, seed=0).search.task == task
