"""Tables as they come: a CSV with number and text columns and empty cells.

Each feature column is numeric (every filled cell a number) or categorical (text, or named in
``[data] categorical``); ``ignore`` drops columns. A table's rows stay raw (numbers as floats
with NaN for an empty cell, categories as text) in a 2-D object array, and a
:class:`TableEncoding` fitted on the training rows alone turns them into features:

- a number: filled with the training mean where empty, then scaled as ``[data] scale`` says
  (standardized by default); a column with empty training cells also gets a 0/1 "was empty"
  feature;
- a category: one-hot over the training split's categories, an empty cell its own category
  when the training split has one, anything else (unseen, or empty when training had none) one
  shared "other" slot. Nothing raises at test or predict time.

The encoding is made of Keras layers and ``keras.ops`` (``TableEncoding.encoder``): the same
model encodes the search's arrays and sits in front of the final model in ``model.keras``,
which then takes a dict of raw columns and loads with Keras alone.

Why Keras layers rather than scikit-learn's ``ColumnTransformer``: the saved model must include
its preprocessing, and a ``.keras`` file holds Keras layers only. Keras's ``FeatureSpace`` was
the other candidate; it has no imputation or missing-value indicator, so hpo writes those two
steps (three ``keras.ops`` calls) and uses Keras's ``StringLookup`` for the categories.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import DataError

NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str


def read_table(path: Path, target: str, categorical: tuple[str, ...] = (),
               numeric: tuple[str, ...] = (), ignore: tuple[str, ...] = ()
               ) -> tuple[tuple[Column, ...], np.ndarray, np.ndarray]:
    """A CSV with a header row: its feature columns, their raw cells (rows × columns, object)
    and the target column as written (whole numbers as int, other numbers float, text)."""
    header, body = _rows(path)
    if target not in header:
        raise DataError(f"CSV {path} has no target column '{target}'; its columns: "
                        f"{', '.join(header)}; set [data] target to one of them")
    for key, names in (("categorical", categorical), ("numeric", numeric), ("ignore", ignore)):
        unknown = [n for n in names if n not in header]
        if unknown:
            raise DataError(f"[data] {key}: CSV {path} has no column {unknown[0]!r}; its "
                            f"columns: {', '.join(header)}")
    t = header.index(target)
    target_cells = [row[t].strip() for row in body]
    empty = [i + 2 for i, c in enumerate(target_cells) if not c]
    if empty:
        raise DataError(f"CSV {path}: the target column '{target}' is empty on {len(empty)} "
                        f"line(s) (the first: line {empty[0]}); drop those rows")
    columns, cells = [], []
    for i, name in enumerate(header):
        if i == t or name in ignore:
            continue
        raw = [row[i].strip() for row in body]
        if not any(raw):
            raise DataError(f"CSV {path}: column '{name}' is empty in every row; drop it or "
                            f"add it to [data] ignore")
        kind, values = _column(path, name, raw, name in categorical, name in numeric)
        columns.append(Column(name, kind))
        cells.append(values)
    if not columns:
        raise DataError(f"CSV {path} has no feature column besides the target '{target}'")
    table = np.empty((len(body), len(columns)), dtype=object)
    for j, values in enumerate(cells):
        table[:, j] = values
    return tuple(columns), table, parse_target(target_cells)


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read CSV {path}: {e}") from None
    if len(rows) < 2:
        raise DataError(f"CSV {path} has no data rows; expected a header row, then one row "
                        f"per example")
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"CSV {path} line {number} has {len(row)} fields, the header "
                            f"{len(header)}; every row needs one value per column")
    return header, rows[1:]


def _column(path: Path, name: str, raw: list[str], categorical: bool, numeric: bool
            ) -> tuple[str, list[Any]]:
    """A column's kind and its values: floats (NaN where empty) or text ("" where empty)."""
    if categorical:
        return CATEGORICAL, raw
    numbers = []
    for line, cell in enumerate(raw, start=2):
        try:
            value = float(cell) if cell else math.nan
        except ValueError:
            if numeric:
                raise DataError(f"CSV {path}: [data] numeric names column '{name}', but line "
                                f"{line} holds {cell!r}; fix the cell or drop the column "
                                f"from numeric") from None
            return CATEGORICAL, raw
        if math.isinf(value):
            raise DataError(f"CSV {path}: column '{name}' has an infinite value on line "
                            f"{line}; fill or drop it")
        numbers.append(value)
    return NUMERIC, numbers


def parse_target(cells: list[str]) -> np.ndarray:
    """Whole numbers as int64, other numbers as float32, else the text."""
    for kind in (int, float):
        try:
            return np.array([kind(c) for c in cells],
                            dtype=np.int64 if kind is int else np.float32)
        except ValueError:
            continue
    return np.array(cells)


def input_name(column: str) -> str:
    """The model input a column feeds: its name, with "/" (which Keras refuses) as "_"."""
    return column.replace("/", "_")


@dataclass(frozen=True)
class TableEncoding:
    """Raw table rows to features, with statistics of the rows it was fitted on.

    ``numbers``: per numeric column, (name, fill, shift, divide, indicator); ``vocabularies``:
    per categorical column, (name, categories), "" standing for an empty cell.
    """

    kind: str
    columns: tuple[Column, ...]
    numbers: tuple[tuple[str, float, float, float, bool], ...]
    vocabularies: tuple[tuple[str, tuple[str, ...]], ...]
    fitted: bool = True

    @classmethod
    def fit(cls, kind: str, columns: tuple[Column, ...], rows: np.ndarray) -> TableEncoding:
        numbers, vocabularies = [], []
        for j, column in enumerate(columns):
            values = rows[:, j]
            if column.kind == CATEGORICAL:
                seen = sorted({str(v) for v in values} - {""})
                vocabularies.append((column.name, tuple(seen + [""] * ("" in set(values)))))
                continue
            x = values.astype(np.float64)
            missing = np.isnan(x)
            filled = x[~missing] if (~missing).any() else np.zeros(1)
            fill = float(filled.mean())
            if kind == "unit":
                shift, span = float(filled.min()), float(filled.max() - filled.min())
            elif kind == "none":
                shift, span = 0.0, 1.0
            else:
                shift, span = fill, float(filled.std())
            numbers.append((column.name, fill, shift, span if span > 0 else 1.0,
                            bool(missing.any())))
        return cls(kind, columns, tuple(numbers), tuple(vocabularies))

    def refit(self, rows: np.ndarray) -> TableEncoding:
        return TableEncoding.fit(self.kind, self.columns, rows)

    def encoder(self) -> Any:
        """A Keras model: a dict of raw columns (numbers as float32, NaN where empty; text as
        strings, "" where empty), each of shape (rows, 1), to the features."""
        import keras

        inputs, parts = {}, []
        for name, fill, shift, divide, indicator in self.numbers:
            x = inputs[name] = keras.Input((1,), dtype="float32", name=input_name(name))
            empty = keras.ops.isnan(x)
            parts.append((keras.ops.where(empty, fill, x) - shift) / divide)
            if indicator:
                parts.append(keras.ops.cast(empty, "float32"))
        for name, categories in self.vocabularies:
            text = inputs[name] = keras.Input((1,), dtype="string", name=input_name(name))
            parts.append(keras.layers.StringLookup(
                vocabulary=list(categories), num_oov_indices=1, output_mode="one_hot",
                name=f"categories_{len(parts)}")(text))
        ordered = {input_name(c.name): inputs[c.name] for c in self.columns}
        features = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 \
            else parts[0]
        return keras.Model(ordered, features, name="table_encoding")

    def apply(self, rows: np.ndarray) -> np.ndarray:
        import keras

        return keras.ops.convert_to_numpy(self.encoder()(as_inputs(self.columns, rows)))

    def wrap(self, model: Any) -> Any:
        """``model`` with this encoding in front: it takes a dict of raw columns."""
        import keras

        encoder = self.encoder()
        return keras.Model(encoder.input, model(encoder.output), name="model_on_raw_rows")

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.kind, "formula": "(x - shift) / divide, an empty cell filled first",
            "numeric": [{"column": n, "fill": round(f, 7), "shift": round(s, 7),
                         "divide": round(d, 7), "missing_indicator": i}
                        for n, f, s, d, i in self.numbers],
            "categorical": [{"column": n, "categories": list(c),
                             "other": "one extra slot for unseen (and unexpected empty) cells"}
                            for n, c in self.vocabularies],
        }


def as_inputs(columns: tuple[Column, ...], rows: np.ndarray) -> dict[str, Any]:
    """Raw rows as the tensors the encoder (and a saved model) takes: one (rows, 1) column
    each, numbers as float32 and text as strings."""
    import tensorflow as tf

    out = {}
    for j, column in enumerate(columns):
        values = rows[:, j]
        if column.kind == NUMERIC:
            out[input_name(column.name)] = tf.constant(
                values.astype(np.float32).reshape(-1, 1))
        else:
            out[input_name(column.name)] = tf.constant(
                np.array([str(v) for v in values], dtype=object).reshape(-1, 1))
    return out
