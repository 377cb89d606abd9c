"""A user-defined CNN on scikit-learn's 8x8 digits, tuned from Python with ``hpo.tune``.

    python examples/digits_cnn.py [--trials N] [--epochs N] [--storage URL]

The builder is a plain function of the Optuna trial: it suggests the filters and kernel size
itself, reads hpo's ``dropout`` (its range given in ``space`` below) and returns the model
uncompiled, so hpo compiles it with the searched optimizer and learning rate. ``hpo.tune``
splits off a sealed test set, searches, retrains the best configuration on train + validation
and tests it once. Run it again and it resumes the stored study.
"""

from __future__ import annotations

import argparse

import keras
from sklearn.datasets import load_digits

import hpo


def build(trial):
    filters = trial.suggest_categorical("filters", [16, 32, 64])
    kernel = trial.suggest_categorical("kernel", [3, 5])
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(filters, kernel, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(hpo.param(trial, "dropout")),
        keras.layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")


SPACE = {
    "dropout": {"low": 0.0, "high": 0.5},
    "optimizer": ["adam", "rmsprop"],
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": [32, 64],
}


def main(argv=None) -> hpo.TuneResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--storage", default="sqlite:///hpo.db")
    args = parser.parse_args(argv)
    digits = load_digits()
    x = digits.images.astype("float32") / 16.0  # pixels 0..16 -> [0, 1]
    result = hpo.tune(build, x[..., None], digits.target, space=SPACE, trials=args.trials,
                      max_epochs=args.epochs, patience=3, scale="none", seed=0,
                      storage=args.storage, study_name="digits_cnn")
    print(f"best params: {result.best_params}")
    print(f"validation accuracy {result.best_value:.4f}, held-out test accuracy "
          f"{result.test_score:.4f} (tested once on {result.result['n_test']} images)")
    return result


if __name__ == "__main__":
    main()
