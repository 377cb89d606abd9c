"""Write the examples' CSV files from scikit-learn's bundled data sets (no download).

    python examples/make_data.py

breast_cancer.csv: 569 tumours, 30 numeric features and ``diagnosis`` (0 malignant, 1 benign).
diabetes.csv: 442 patients, 10 numeric features and ``progression`` (a disease score, 25-346).
clinic.csv: the same patients as a real table comes: ``sex`` and a blood-pressure band as text,
about 6% of the age, bmi, sex and band cells left empty (seeded), and ``outcome`` as text
("worse" when progression is above its median, else "better").
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes

HERE = Path(__file__).resolve().parent


def write(path: Path, features, names, target, target_name: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([n.replace(" ", "_") for n in names] + [target_name])
        for row, value in zip(features, target):
            writer.writerow([f"{v:.6g}" for v in row] + [f"{value:g}"])
    return path


def write_clinic(path: Path, seed: int = 0) -> Path:
    """diabetes as a table with text categories and empty cells (see the module docstring)."""
    data = load_diabetes(scaled=False)
    rng = np.random.default_rng(seed)
    median = float(np.median(data.target))
    header = ["age", "sex", "bmi", "bp_band", *data.feature_names[4:], "outcome"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, value in zip(data.data, data.target):
            bp = row[3]
            band = "high" if bp >= 105 else "normal" if bp >= 85 else "low"
            cells = [f"{row[0]:g}", "female" if row[1] == 1 else "male", f"{row[2]:g}", band,
                     *(f"{v:.6g}" for v in row[4:])]
            for j in (0, 1, 2, 3):
                if rng.random() < 0.06:
                    cells[j] = ""
            writer.writerow([*cells, "worse" if value > median else "better"])
    return path


def main(out_dir: Path = HERE) -> list[Path]:
    cancer = load_breast_cancer()
    diabetes = load_diabetes(scaled=False)
    return [
        write(out_dir / "breast_cancer.csv", cancer.data, cancer.feature_names, cancer.target,
              "diagnosis"),
        write(out_dir / "diabetes.csv", diabetes.data, diabetes.feature_names, diabetes.target,
              "progression"),
        write_clinic(out_dir / "clinic.csv"),
    ]


if __name__ == "__main__":
    for path in main():
        print(f"wrote {path}")
