"""The examples in examples/ and the README's Python example run as a user runs them."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import ROOT, run_hpo, run_python

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("name, metric, task", [
    ("breast_cancer", "val_auc", "classification"),
    ("diabetes", "val_mae", "regression"),
])
def test_a_study_file_example_runs_prints_its_metric_and_exports_a_model(tmp_path, name, metric,
                                                                        task):
    result = run_hpo(["--study", str(EXAMPLES / f"{name}.toml"), "--trials", "3",
                      "--epochs", "3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"held-out test {metric.removeprefix('val_')}: " in result.stdout
    best = json.loads((tmp_path / "runs" / name / "best.json").read_text())
    assert best["metric"] == metric and best["task"] == task
    assert isinstance(best["test_score"], float)
    assert ("confusion_matrix" in best) == (task == "classification")
    assert best["preprocessing"]["scale"] == "standardize"
    assert (tmp_path / "runs" / name / "report.html").is_file()
    exported = run_hpo(["--study", name, "--out", "configs"], tmp_path, module="hpo.export")
    assert exported.returncode == 0, exported.stderr
    (config,) = (tmp_path / "configs").glob("top1-*.json")
    # The config names its builder; from the examples' folder it rebuilds the same model.
    rebuilt = run_python(f"import hpo; print(hpo.model_from_config({str(config)!r})"
                         f".count_params())", EXAMPLES)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert int(rebuilt.stdout.split()[-1]) == json.loads(config.read_text())["n_params"]


def test_the_digits_cnn_example_tunes_through_the_python_api(tmp_path):
    shutil.copy(EXAMPLES / "digits_cnn.py", tmp_path)
    result = run_python("import digits_cnn; r = digits_cnn.main(['--trials', '2', '--epochs', "
                        "'1']); print('TEST', r.test_score, r.model.count_params())", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    score, n_params = result.stdout.split("TEST")[-1].split()
    assert 0.0 <= float(score) <= 1.0 and int(n_params) > 0
    assert (tmp_path / "runs" / "digits_cnn" / "best.json").is_file()


def run_readme_block(tmp_path, marker: str):
    """Run the README's first Python block holding ``marker``, as a user pastes it."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    result = run_python(next(b for b in blocks if marker in b), tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_readme_python_example_runs_as_written(tmp_path):
    result = run_readme_block(tmp_path, "hpo.tune(")
    assert "test" in result.stdout


RAW_ROWS = '''
import numpy as np, tensorflow as tf, keras
model = keras.saving.load_model("runs/clinic/model.keras")      # Keras alone: no hpo import
rows = {"age": [59.0, np.nan], "sex": ["male", "unknown"], "bmi": [np.nan, 30.5],
        "bp_band": ["", "very high"], "s1": [157.0, 150.0], "s2": [93.2, 90.0],
        "s3": [38.0, 40.0], "s4": [4.0, 4.0], "s5": [4.86, 4.6], "s6": [87.0, 85.0]}
inputs = {k: tf.constant(np.array(v, dtype=object if isinstance(v[0], str) else np.float32)
                         .reshape(-1, 1)) for k, v in rows.items()}
p = model.predict(inputs, verbose=0)
print("ROWS", p.shape, bool(np.isfinite(p).all()), bool(np.allclose(p.sum(axis=1), 1)))
'''


def test_a_csv_with_text_and_empty_cells_runs_and_its_model_predicts_raw_rows(tmp_path):
    result = run_hpo(["--study", str(EXAMPLES / "clinic.toml"), "--trials", "2",
                      "--epochs", "3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    best = json.loads((tmp_path / "runs" / "clinic" / "best.json").read_text())
    assert best["classes"] == ["better", "worse"]
    encoding = best["preprocessing"]
    assert {c["column"] for c in encoding["categorical"]} == {"sex", "bp_band"}
    assert all(c["categories"][-1] == "" for c in encoding["categorical"])  # empty: its own
    assert {c["column"] for c in encoding["numeric"] if c["missing_indicator"]} == \
        {"age", "bmi"}
    # An unseen category ("unknown", "very high") and empty cells, after loading.
    predicted = run_python(RAW_ROWS, tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert "ROWS (2, 2) True True" in predicted.stdout


def test_the_readme_pipeline_example_runs_as_written(tmp_path):
    result = run_readme_block(tmp_path, "validation_data=val_ds")
    assert "held-out test accuracy 0." in result.stdout
    assert (tmp_path / "runs" / "digits_ds" / "model.keras").is_file()
