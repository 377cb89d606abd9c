"""Multi-objective studies: validation accuracy against parameter count, a Pareto front."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from conftest import run_hpo

from hpo import pareto
from hpo.export import main as export_main
from hpo.export import model_from_config

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARETO_STUDY = """
family = "mlp"
seed = 1
objectives = ["accuracy", "n_params"]
[data]
dataset = "digits"
validation_size = 0.2
[budget]
trials = 6
max_epochs = 2
[sampler]
name = "random"
[space]
learning_rate = { low = 0.005, high = 0.05, log = true }
batch_size = 64
n_layers = { low = 1, high = 2 }
units = [4, 8, 32]
"""


def two_objective_study(points: list[tuple[float, int]]) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for accuracy, n_params in points:
        study.add_trial(optuna.trial.create_trial(values=[accuracy, n_params]))
    return study


def test_the_recommended_member_is_the_smallest_within_half_a_point_of_the_best():
    study = two_objective_study([(0.90, 1000), (0.897, 500), (0.895, 300), (0.894, 200),
                                 (0.80, 50), (0.85, 900)])  # the last one is dominated
    assert [pareto.size(t) for t in pareto.front(study)] == [50, 200, 300, 500, 1000]
    # 0.895 is exactly 0.5 points below 0.90: in; 0.894 is not, though smaller.
    assert pareto.size(pareto.best_trial(study)) == 300
    assert pareto.best_trial(two_objective_study([])) is None


def test_a_single_objective_study_puts_forward_its_best_trial():
    study = optuna.create_study(direction="maximize")
    assert pareto.best_trial(study) is None
    for value in (0.5, 0.9, 0.7):
        study.add_trial(optuna.trial.create_trial(value=value))
    assert not pareto.is_multi_objective(study) and pareto.best_trial(study).number == 1


def test_a_pruner_with_two_objectives_stops_the_run_before_training(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "p.toml").write_text(PARETO_STUDY)
    result = run_hpo(["--study", "p", "--pruner", "median"], tmp_path)
    assert result.returncode == 2
    assert "--pruner: pruner 'median': Optuna cannot prune multi-objective trials" in (
        result.stderr)
    assert "Traceback" not in result.stderr and not (tmp_path / "hpo.db").exists()


@pytest.fixture(scope="module")
def pareto_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("pareto")
    (cwd / "studies").mkdir()
    (cwd / "studies" / "p.toml").write_text(PARETO_STUDY)
    result = run_hpo(["--study", "p"], cwd)
    assert result.returncode == 0, result.stderr
    (cwd / "stdout.txt").write_text(result.stdout)
    return cwd


def load(cwd: Path) -> optuna.Study:
    return optuna.load_study(study_name="p", storage=f"sqlite:///{cwd / 'hpo.db'}")


def dominates(a: tuple[float, int], b: tuple[float, int]) -> bool:
    return a[0] >= b[0] and a[1] <= b[1] and a != b


@pytest.mark.slow
def test_the_front_is_printed_and_each_member_tested_once(pareto_run):
    stdout = (pareto_run / "stdout.txt").read_text()
    # Printed once, with the test scores (before the final step, only the state counts).
    assert "the Pareto front on validation" not in stdout
    assert stdout.count("the Pareto front, each member retrained and tested once") == 1
    header = next(line for line in stdout.splitlines() if line.startswith("| trial"))
    assert [c.strip() for c in header.strip("|").split("|")][:5] == [
        "trial", "validation", "n_params", "test", "front"]

    front = json.loads((pareto_run / "runs/p/front.json").read_text())
    members = front["members"]
    complete = [(t.values[0], t.values[1]) for t in load(pareto_run).trials
                if t.state.name == "COMPLETE"]
    expected = {p for p in complete if not any(dominates(q, p) for q in complete)}
    assert len(expected) >= 2, "the test needs a front of several members: change the seed"
    assert {(m["validation_accuracy"], m["n_params"]) for m in members} == expected
    assert [m["n_params"] for m in members] == sorted(m["n_params"] for m in members)
    for member in members:
        assert 0.0 <= member["test_accuracy"] <= 1.0 and member["test_loss"] > 0
        assert member["epochs"] >= 1 and member["params"]["batch_size"] == 64

    rows = {int(r["trial"]): r for r in csv.DictReader(
        (pareto_run / "runs/p/results.csv").open(newline=""))}
    on_front = {m["trial"] for m in members}
    assert {n for n, r in rows.items() if r["front"]} == on_front
    assert all((r["test"] != "") == (n in on_front) for n, r in rows.items())


@pytest.mark.slow
def test_best_json_is_the_member_chosen_on_validation(pareto_run):
    front = json.loads((pareto_run / "runs/p/front.json").read_text())
    members = front["members"]
    top = max(m["validation_accuracy"] for m in members)
    near = [m for m in members if top - m["validation_accuracy"] <= pareto.TOLERANCE + 1e-9]
    chosen = min(near, key=lambda m: m["n_params"])
    assert front["recommended"] == chosen["trial"]
    assert [m["trial"] for m in members if m["recommended"]] == [chosen["trial"]]
    best = json.loads((pareto_run / "runs/p/best.json").read_text())
    assert best["trial"] == chosen["trial"] and best["n_params"] == chosen["n_params"]
    assert best["test_accuracy"] == chosen["test_accuracy"]
    assert (pareto_run / "runs/p/model.keras").is_file()


@pytest.mark.slow
def test_the_export_writes_the_front_and_rebuilds_each_member(pareto_run, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(pareto_run)
    front = json.loads((pareto_run / "runs/p/front.json").read_text())
    sizes = {m["trial"]: m["n_params"] for m in front["members"]}
    assert export_main(["--study", "p", "--out", "all"]) == 0
    configs = {}
    for path in (pareto_run / "all").glob("*.json"):
        config = json.loads(path.read_text())
        assert model_from_config(path).count_params() == config["n_params"]
        configs[config["trial"]] = config
    assert {n: c["n_params"] for n, c in configs.items()} == sizes
    assert [n for n, c in configs.items() if c["recommended"]] == [front["recommended"]]
    assert "(recommended)" in capsys.readouterr().out
    # --top K: the K most accurate members.
    assert export_main(["--study", "p", "--top", "1", "--out", "one"]) == 0
    (path,) = (pareto_run / "one").glob("*.json")
    most_accurate = max(front["members"], key=lambda m: m["validation_accuracy"])
    assert json.loads(path.read_text())["trial"] == most_accurate["trial"]


@pytest.mark.slow
def test_the_report_leads_with_the_front(pareto_run):
    page = (pareto_run / "runs/p/report.html").read_text()
    assert "<h2>Pareto front</h2>" in page and "<h2>Search: Pareto front</h2>" in page
    assert "could not be drawn" not in page
    assert "multi-objective trials report no per-epoch values" in page
    assert "<td>recommended</td>" in page
