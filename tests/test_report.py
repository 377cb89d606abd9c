"""The study report: report.html and its PNGs, from the run and from ``python -m hpo.report``."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import optuna
import pytest
from conftest import run_hpo

from hpo.report import main, write_report

optuna.logging.set_verbosity(optuna.logging.WARNING)

CHROMIUM = Path("/usr/bin/chromium")
FIGURE = 'class="plotly-graph-div'
# Plotly adds a class to a figure's div once plotly.js has drawn it.
DRAWN = 'class="plotly-graph-div js-plotly-plot"'


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a valid PNG file; fails the test if it is not one."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is no PNG"
    return struct.unpack(">II", data[16:24])


# -- what a run leaves -------------------------------------------------------------------------

@pytest.mark.slow
def test_the_run_writes_the_report_and_the_pngs(mixed_run):
    assert f"wrote runs/{mixed_run.name}/report.html" in mixed_run.result.stdout
    assert "learning_curves.png, confusion_matrix.png" in mixed_run.result.stdout
    for name in ("learning_curves.png", "confusion_matrix.png"):
        width, height = png_size(mixed_run.out / name)
        assert width > 300 and height > 300


@pytest.mark.slow
def test_the_report_shows_the_summary_the_figures_and_the_top_trials(mixed_run):
    page = (mixed_run.out / "report.html").read_text()
    best = json.loads((mixed_run.out / "best.json").read_text())
    assert "<h1>Study mixed</h1>" in page
    states = mixed_run.states()
    counts = {s: states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    assert (f"5 ({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
            f"{counts['FAIL']} fail)") in page
    assert f"{best['test_accuracy']:.4f}" in page and f"{best['value']:.4f}" in page
    # Learning curves, confusion matrix and four of Optuna's plots: importances need 10
    # complete trials, and say so.
    assert page.count(FIGURE) == 6
    assert "needs at least 10 complete trials to say more than noise" in page
    for title in ("Learning curves", "confusion matrix", "optimization history",
                  "intermediate values", "parameter importances", "parallel coordinate",
                  "slice"):
        assert title in page
    assert 'class="note">This plot' not in page
    # The space, each range with the best value (n_layers spans 1 to 2: at a bound either way)
    # and how the study searched.
    space = page[page.index("<h2>Search space</h2>"):page.index("<h2>How it searched</h2>")]
    assert "learning_rate" in space and "one of 0.01, 100.0" in space
    assert '<tr class="flag"><td>n_layers</td>' in space and "BOUND: the best may lie" in space
    run = page[page.index("<h2>How it searched</h2>"):page.index("<h2>Learning curves</h2>")]
    for fragment in ("val_accuracy, maximized", "sampler</td><td>random", "seed</td><td>6",
                     "wall time", "keras 3", "tensorflow 2"):
        assert fragment in run
    # Axes named as an engineer reads them; epochs from 1.
    assert '"title":{"text":"epoch"}' in page and '"title":{"text":"val_accuracy"}' in page
    table = page[page.index("<h2>Top 10 trials</h2>"):]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", table)
    assert len(rows) == 5
    assert [state.split(":")[0] for _, state in rows] == (
        ["complete"] * counts["COMPLETE"] + ["pruned"] * counts["PRUNED"]
        + ["fail"] * counts["FAIL"])
    assert int(rows[0][0]) == best["trial"]
    assert "fail: diverged: training loss" in table


@pytest.mark.slow
def test_the_report_is_self_contained(mixed_run):
    page = (mixed_run.out / "report.html").read_text()
    assert page.count("plotly.js v") == 1, "plotly.js must be inlined once, not per figure"
    assert "<script src" not in page and "<link" not in page


@pytest.mark.slow
def test_hpo_report_rewrites_it_with_the_test_results_from_best_json(mixed_run, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(mixed_run.cwd, cwd)
    (cwd / "runs" / "mixed" / "report.html").unlink()
    result = run_hpo(["--study", "mixed"], cwd, module="hpo.report")
    assert result.returncode == 0, result.stderr
    page = (cwd / "runs" / "mixed" / "report.html").read_text()
    best = json.loads((cwd / "runs" / "mixed" / "best.json").read_text())
    assert f"{best['test_accuracy']:.4f}" in page and page.count(FIGURE) == 6


@pytest.mark.slow
def test_hpo_report_without_best_json_has_no_test_parts(mixed_run, tmp_path):
    result = run_hpo(["--study", "mixed", "--storage", mixed_run.storage, "--out", "rep"],
                     tmp_path, module="hpo.report")
    assert result.returncode == 0, result.stderr
    assert "no test results" in result.stdout
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "test accuracy" not in page and "did not run" in page
    # Learning curves of the best trial and Optuna's five but the importances (5 trials).
    assert page.count(FIGURE) == 5
    png_size(tmp_path / "rep" / "learning_curves.png")
    assert not (tmp_path / "rep" / "confusion_matrix.png").exists()


# -- in a browser ------------------------------------------------------------------------------

def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y "
                    "chromium) to render the report")
def test_the_report_renders_in_a_browser_offline(mixed_run, tmp_path):
    from PIL import Image

    url = (mixed_run.out / "report.html").as_uri()
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", url, profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Every figure was drawn by plotly.js (its div gets the class and its SVG layers).
    assert dom.stdout.count(DRAWN) == 6
    assert dom.stdout.count('class="main-svg"') >= 12

    shot = tmp_path / "report.png"
    result = chromium("--virtual-time-budget=10000", "--hide-scrollbars",
                      "--window-size=1200,3000", f"--screenshot={shot}", url,
                      profile=tmp_path / "p2")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500, "the page looks blank"


# -- write_report on its own (no training) -----------------------------------------------------

def add_trial(study, number, state, value=None, history=None, **attrs):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    trial = optuna.trial.create_trial(
        state=state, value=value,
        params={"learning_rate": 0.001 * (number + 1), "optimizer": "adam"},
        distributions={"learning_rate": FloatDistribution(1e-4, 0.1, log=True),
                       "optimizer": CategoricalDistribution(["adam", "sgd"])},
        user_attrs={"n_params": 100, "epochs": 2, "seconds_per_epoch": 0.1,
                    **({"history": history} if history else {}), **attrs},
        intermediate_values={0: 0.5, 1: value} if value is not None else {},
    )
    study.add_trial(trial)


HISTORY = {"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.1, 0.7],
           "val_accuracy": [0.55, 0.75]}


def test_an_empty_study_gets_a_page_of_notes(tmp_path):
    study = optuna.create_study(direction="maximize", study_name="empty")
    files = write_report(study, tmp_path, None)
    assert files == [tmp_path / "report.html"]
    page = files[0].read_text()
    assert "0 (none yet)" in page and "No trials yet." in page
    assert page.count(FIGURE) == 0
    assert "The parameter importances plot needs at least 10 complete trials" in page


def test_one_complete_trial_draws_what_it_can(tmp_path):
    study = optuna.create_study(direction="maximize", study_name="one")
    add_trial(study, 0, optuna.trial.TrialState.COMPLETE, 0.75, HISTORY, best_epoch=2)
    add_trial(study, 1, optuna.trial.TrialState.FAIL, fail_reason="diverged: loss 1e9")
    files = write_report(study, tmp_path, None)
    assert [f.name for f in files] == ["report.html", "learning_curves.png"]
    page = files[0].read_text()
    assert "needs at least 10 complete trials to say more than noise; this study has 1" in page
    # Curves, history, intermediate values, parallel coordinate, slice.
    assert page.count(FIGURE) == 5
    assert "trial 0 validation" in page and "fail: diverged: loss 1e9" in page
    png_size(files[1])


def test_trials_without_a_history_get_a_note(tmp_path):
    study = optuna.create_study(direction="maximize", study_name="old")
    for n in range(3):
        add_trial(study, n, optuna.trial.TrialState.COMPLETE, 0.5 + n / 10)
    page = write_report(study, tmp_path, None)[0].read_text()
    assert "did not record a per-epoch history" in page
    assert page.count(FIGURE) == 4  # Optuna's five but the importances (3 trials)


def test_importances_come_from_ten_complete_trials_and_say_how_many(tmp_path):
    study = optuna.create_study(direction="maximize", study_name="ten")
    for n in range(12):
        add_trial(study, n, optuna.trial.TrialState.COMPLETE, 0.5 + n / 100)
    page = write_report(study, tmp_path, None)[0].read_text()
    assert "from 12 complete trials (fANOVA)" in page
    assert "needs at least 10 complete trials" not in page


def test_hpo_report_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--study", "x", "--storage", "sqlite:///missing.db"]) == 2
    assert "no SQLite file 'missing.db'" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
    optuna.create_study(study_name="a", storage="sqlite:///s.db")
    assert main(["--study", "nope", "--storage", "sqlite:///s.db"]) == 2
    assert "no study 'nope' in sqlite:///s.db; studies there: a" in capsys.readouterr().err
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "best.json").write_text(json.dumps(
        {"study": "b", "test_accuracy": 0.5, "test_loss": 1.0}))
    assert main(["--study", "a", "--storage", "sqlite:///s.db"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is from study 'b', not 'a'" in err


def test_wide_studies_plot_their_most_important_dimensions_and_epochs_from_one(tmp_path):
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(direction="maximize", study_name="wide")
    names = [f"p{i}" for i in range(9)]
    for n in range(12):
        params = {name: (n * (i + 3)) % 7 / 7 + 0.01 for i, name in enumerate(names)}
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=params["p0"],
            params=params, distributions={k: FloatDistribution(0.0, 1.0) for k in names},
            intermediate_values={0: 0.1, 1: params["p0"]}))
    page = write_report(study, tmp_path, None)[0].read_text()
    assert "parallel coordinate (the 6 most important of 9 dimensions)" in page
    assert "slice (the 6 most important of 9 dimensions)" in page
    # Optuna's steps 0 and 1 are epochs 1 and 2.
    assert re.search(r'"x":\[1,2\]', page)
