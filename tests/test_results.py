"""Notebook-style studies end in a table: one row per setting, with test scores where asked."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from conftest import run_hpo

from hpo.results import markdown_table

optuna.logging.set_verbosity(optuna.logging.WARNING)

HEADER = """
family = "{family}"
seed = 3
{extra}
[data]
dataset = "digits"
validation_size = 0.2
[budget]
trials = {trials}
max_epochs = 2
[sampler]
name = "{sampler}"
[pruner]
name = "none"
[space]
"""


def write(tmp_path: Path, name: str, space: str, trials: int, family: str = "mlp",
          sampler: str = "grid", extra: str = "") -> None:
    studies = tmp_path / "studies"
    studies.mkdir(exist_ok=True)
    text = HEADER.format(family=family, trials=trials, sampler=sampler, extra=extra) + space
    (studies / f"{name}.toml").write_text(text)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_learning_rate_grid_reports_every_setting_and_survives_divergence(tmp_path):
    write(tmp_path, "lr", 'learning_rate = [0.05, 100.0, 1e-7]\noptimizer = "sgd"\n'
          'layers = [[16]]\nbatch_size = 32\n', trials=3, extra='final = "each"')
    result = run_hpo(["--study", "lr"], tmp_path)
    assert result.returncode == 0, result.stderr
    listed = read_rows(tmp_path / "runs/lr/results.csv")
    # In the order the study file lists them (the grid sampler runs them shuffled).
    assert [r["learning_rate"] for r in listed] == ["0.05", "100", "1e-07"]
    rows = {float(r["learning_rate"]): r for r in listed}
    assert rows[100.0]["state"] == "fail" and "diverged" in rows[100.0]["note"]
    assert rows[100.0]["test"] == ""  # a failed setting is not retrained
    # Every completed setting was retrained and tested once, the winner chosen on validation.
    for lr in (0.05, 1e-7):
        assert rows[lr]["state"] == "complete" and 0 <= float(rows[lr]["test"]) <= 1
    assert float(rows[0.05]["validation"]) > float(rows[1e-7]["validation"]) + 0.2
    best = json.loads((tmp_path / "runs/lr/best.json").read_text())
    assert best["params"]["learning_rate"] == 0.05
    assert set(best["others"]) == {str(rows[1e-7]["trial"])}
    # The summary is printed once, under short names, at most 120 characters wide.
    assert "lr" in result.stdout.split("the best trials")[1].splitlines()[1].split()
    assert result.stdout.count("the best trials") == 1
    assert (tmp_path / "runs/lr/results.md").read_text().count("\n") == 2 + 3


@pytest.mark.slow
def test_repeats_of_one_config_end_with_mean_and_sd(tmp_path):
    write(tmp_path, "rep", 'layers = [[8]]\noptimizer = "adam"\n', trials=3, sampler="random",
          extra='final = "each"')
    result = run_hpo(["--study", "rep"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "runs/rep/results.csv")
    assert len(rows) == 4 and rows[-1]["trial"] == "mean ± sd of 3"
    assert [r["seed"] for r in rows[:3]] == ["3", "4", "5"]  # seed = 3 + trial number
    tests = [float(r["test"]) for r in rows[:3]]
    mean, sd = rows[-1]["test"].split(" ± ")
    assert float(mean) == pytest.approx(sum(tests) / 3, abs=1e-4)
    assert float(sd) > 0  # different seeds, different models


@pytest.mark.slow
def test_a_grid_then_a_follow_up_grid_over_what_it_kept_fixed(tmp_path):
    write(tmp_path, "first", 'learning_rate = [0.001, 0.03]\noptimizer = "adam"\n'
          'conv_blocks = 1\nfilters = 4\nn_layers = 1\nunits = 8\n', trials=2, family="cnn",
          extra='then = "second"')
    write(tmp_path, "second", "dropout = [0.0, 0.3]\n", trials=2, family="cnn",
          extra='follows = "first"')
    alone = run_hpo(["--study", "second"], tmp_path)
    assert alone.returncode == 2
    assert "follows study 'first'" in alone.stderr and "--study first` first" in alone.stderr

    result = run_hpo(["--study", "first"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the final retrain and test come after study second" in result.stdout
    assert not (tmp_path / "runs/first/best.json").exists()
    storage = f"sqlite:///{tmp_path / 'hpo.db'}"
    first = optuna.load_study(study_name="first", storage=storage)
    second = optuna.load_study(study_name="second", storage=storage)
    best_lr = first.best_params["learning_rate"]
    assert [t.params["dropout"] for t in second.trials] in ([0.0, 0.3], [0.3, 0.0])
    assert all(t.params["learning_rate"] == best_lr and t.params["filters_1"] == 4
               for t in second.trials)
    best = json.loads((tmp_path / "runs/second/best.json").read_text())
    assert best["params"]["learning_rate"] == best_lr and "test_accuracy" in best


@pytest.mark.slow
def test_enqueued_configurations_run_first(tmp_path):
    write(tmp_path, "q", "learning_rate = { low = 0.001, high = 0.1, log = true }\n"
          "layers = [[8], [16]]\n[[enqueue]]\nlearning_rate = 0.02\nlayers = [16]\n",
          trials=2, sampler="random")
    result = run_hpo(["--study", "q", "--no-final"], tmp_path)
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="q", storage=f"sqlite:///{tmp_path / 'hpo.db'}")
    assert study.trials[0].params == {"learning_rate": 0.02, "layers": "16"}
    assert study.trials[1].params != study.trials[0].params
    # A rerun does not enqueue it again.
    again = run_hpo(["--study", "q", "--trials", "3", "--no-final"], tmp_path)
    assert "enqueued" not in again.stdout


def test_markdown_table_pads_columns_to_their_widths():
    table = markdown_table([{"trial": 0, "validation": 0.91234, "note": ""},
                            {"trial": 12, "validation": None, "note": "diverged"}])
    lines = table.splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["trial", "validation", "note"]
    assert set(lines[1]) == {"|", "-"}  # the header rule
    assert cells[2:] == [["0", "0.9123", ""], ["12", "", "diverged"]]
    # Padded: every row's bars stand in the same columns, so it reads as plain text too.
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in lines}
    assert len(bars) == 1
