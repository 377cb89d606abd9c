"""Write the examples' CSV files from scikit-learn's bundled data sets (no download).

    python examples/make_data.py

breast_cancer.csv: 569 tumours, 30 numeric features and ``diagnosis`` (0 malignant, 1 benign).
diabetes.csv: 442 patients, 10 numeric features and ``progression`` (a disease score, 25-346).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.datasets import load_breast_cancer, load_diabetes

HERE = Path(__file__).resolve().parent


def write(path: Path, features, names, target, target_name: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([n.replace(" ", "_") for n in names] + [target_name])
        for row, value in zip(features, target):
            writer.writerow([f"{v:.6g}" for v in row] + [f"{value:g}"])
    return path


def main(out_dir: Path = HERE) -> list[Path]:
    cancer = load_breast_cancer()
    diabetes = load_diabetes(scaled=False)
    return [
        write(out_dir / "breast_cancer.csv", cancer.data, cancer.feature_names, cancer.target,
              "diagnosis"),
        write(out_dir / "diabetes.csv", diabetes.data, diabetes.feature_names, diabetes.target,
              "progression"),
    ]


if __name__ == "__main__":
    for path in main():
        print(f"wrote {path}")
