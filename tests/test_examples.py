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


def test_the_readme_python_example_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "hpo.tune(" in b)
    result = run_python(example, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test" in result.stdout
