"""The CLI as a user runs it: a new process, one-line errors, exit codes, resumable studies."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_STUDY, run_hpo, write_mnist_like


def assert_setup_error(result, *fragments, cwd=None):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpo: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    if cwd is not None:
        assert not (cwd / "hpo.db").exists(), "nothing may be written to the storage"


def study_with(tmp_path, old, new, name="bad"):
    text = TINY_STUDY.replace(old, new)
    assert text != TINY_STUDY
    path = tmp_path / "studies" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return name


BAD_FILES = [
    ("[budget]", "[budget]\ncolour = 'red'", ["unknown key 'colour'", "trials"]),
    ("low = 0.001, high = 0.05", "low = 0.05, high = 0.001", ["low (0.05) > high (0.001)"]),
    ("low = 0.001, high = 0.05", "low = -0.1, high = 0.05", ["learning_rate.low", "> 0"]),
    ('["adam", "sgd"]', '["adam", "sgdd"]', ["'sgdd'", "valid: sgd, adam"]),
    ("batch_size = 64", "batch_size = 64\nactivation = 'gelu'", ["'gelu'", "valid: relu"]),
    ("batch_size = 64", "batch_size = 64\ninitializer = 'ones'", ["'ones'", "he_normal"]),
    ('name = "random"', 'name = "bayes"', ["unknown sampler 'bayes'", "tpe, random"]),
    ('name = "none"', 'name = "early"', ["unknown pruner 'early'", "median"]),
    ("trials = 3", "trials = 0", ["trials: got 0", "integer >= 1"]),
    ("max_epochs = 2", "max_epochs = 0", ["max_epochs: got 0", "integer >= 1"]),
]


@pytest.mark.parametrize("old, new, fragments", BAD_FILES)
def test_bad_study_file_stops_before_training(tmp_path, old, new, fragments):
    name = study_with(tmp_path, old, new)
    result = run_hpo(["--study", name], tmp_path)
    assert_setup_error(result, "bad.toml", *fragments, cwd=tmp_path)


def test_unknown_study_lists_known_ones(tmp_path, study_file):
    result = run_hpo(["--study", "nope"], tmp_path)
    assert_setup_error(result, "unknown study 'nope'", "tiny", "mlp", cwd=tmp_path)


def test_unreadable_toml(tmp_path, study_file):
    study_file.write_text("[budget\ntrials = 3")
    assert_setup_error(run_hpo(["--study", "tiny"], tmp_path), "not valid TOML", cwd=tmp_path)


@pytest.mark.parametrize("args, fragments", [
    (["--trials", "0"], ["--trials", "expected an integer >= 1, got '0'"]),
    (["--epochs", "-1"], ["--epochs", "expected an integer >= 1"]),
    (["--sampler", "bayes"], ["--sampler", "invalid choice: 'bayes'", "tpe"]),
    (["--pruner", "asha"], ["--pruner", "invalid choice: 'asha'", "hyperband"]),
    (["--storage", "not a url"], ["malformed storage URL", "sqlite:///hpo.db"]),
    (["--storage", "oracle9://x/y"], ["unknown database 'oracle9'"]),
])
def test_bad_flags_stop_before_training(tmp_path, study_file, args, fragments):
    result = run_hpo(["--study", "tiny", *args], tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "hpo.db").exists()


def mnist_study(tmp_path):
    return study_with(tmp_path, 'dataset = "digits"\nvalidation_size = 0.2',
                      'dataset = "mnist"\nvalidation_size = 10', name="mn")


def test_missing_data_file_says_how_to_get_it(tmp_path):
    name = mnist_study(tmp_path)
    (tmp_path / "empty").mkdir()
    result = run_hpo(["--study", name, "--data-dir", "empty"], tmp_path)
    assert_setup_error(result, "no mnist.npz in data dir empty", "--dataset digits", cwd=tmp_path)


def test_corrupt_data_file(tmp_path):
    name = mnist_study(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mnist.npz").write_bytes(b"\x00" * 100)
    result = run_hpo(["--study", name, "--data-dir", "d"], tmp_path)
    assert_setup_error(result, "not a readable .npz", cwd=tmp_path)


def test_data_file_with_wrong_shapes(tmp_path):
    name = mnist_study(tmp_path)
    (tmp_path / "d").mkdir()
    write_mnist_like(tmp_path / "d" / "mnist.npz", shape=(14, 14))
    result = run_hpo(["--study", name, "--data-dir", "d"], tmp_path)
    assert_setup_error(result, "x_train has shape (60, 14, 14)", "(N, 28, 28)", cwd=tmp_path)


def test_debug_shows_the_traceback(tmp_path, study_file):
    result = run_hpo(["--study", "nope", "--debug"], tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_list_shows_studies_with_descriptions(tmp_path, study_file):
    result = run_hpo(["--list"], tmp_path)
    assert result.returncode == 0
    assert "tiny tiny test study" in " ".join(result.stdout.split())
    assert "mlp" in result.stdout


def test_help_explains_every_flag(tmp_path):
    result = run_hpo(["--help"], tmp_path)
    for flag in ("--study", "--trials", "--timeout", "--storage", "--data-dir", "--dataset",
                 "--sampler", "--pruner", "--seed", "--out", "--no-final", "--list", "--debug"):
        assert flag in result.stdout


@pytest.mark.slow
def test_run_tests_once_and_a_rerun_resumes_to_the_requested_count(tmp_path, study_file):
    first = run_hpo(["--study", "tiny", "--trials", "3"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "python -m hpo.dashboard --study tiny --storage sqlite:///hpo.db" in first.stdout
    assert "optuna-dashboard sqlite:///hpo.db" in first.stdout
    assert "held-out test accuracy:" in first.stdout
    best = json.loads((tmp_path / "runs" / "tiny" / "best.json").read_text())
    for key in ("study", "params", "value", "test_accuracy", "test_loss", "n_params", "epochs"):
        assert key in best
    assert best["study"] == "tiny" and 0.0 <= best["test_accuracy"] <= 1.0
    assert (tmp_path / "runs" / "tiny" / "model.keras").stat().st_size > 0

    again = run_hpo(["--study", "tiny", "--trials", "5", "--no-final"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "running 2 trials (3 already stored)" in again.stdout
    assert "study tiny: 5 trials" in again.stdout
    assert "skipped the final retrain" in again.stdout
    assert "wrote runs/tiny/report.html" in again.stdout

    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'hpo.db'}")
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    # The resumed sampler does not replay the first run's draws.
    assert study.trials[3].params != study.trials[0].params


def _tiny_study(tmp_path):
    """TINY_STUDY's spec (3 trials), its digits data and an empty study in a SQLite file."""
    import tomllib

    from hpo.data import load_dataset
    from hpo.spec import DataSpec, parse_spec
    from hpo.storage import open_study

    spec = parse_spec(tomllib.loads(TINY_STUDY), name="tiny")
    data = load_dataset(DataSpec("digits", validation_size=0.2), seed=0)
    return spec, data, open_study(f"sqlite:///{tmp_path / 'hpo.db'}", "tiny", ["maximize"], {})


def test_run_trials_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    # run_trials freezes what lives through the run and collects young objects less often, for
    # cheap collections between trials; a program that calls it goes on with every object
    # collectable again, at its own thresholds.
    import gc

    from hpo.search import YOUNG_GC_THRESHOLD, run_trials

    spec, data, study = _tiny_study(tmp_path)
    before = gc.get_threshold()
    during = []
    run_trials(spec, study, data.search, 2,
               callbacks=[lambda study, trial: during.append(gc.get_threshold()[0])])
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert during == [YOUNG_GC_THRESHOLD] * 2
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_run_trials_marks_each_trial_with_its_worker_and_turns_away_one_too_many(tmp_path):
    # Each trial says which worker and process ran it and with which seed (the dashboard's
    # columns); a trial started once the study holds its requested number is failed as surplus,
    # without training, and still says who started it.
    from hpo import record
    from hpo.search import process_tag, run_trials
    from hpo.storage import SURPLUS

    spec, data, study = _tiny_study(tmp_path)  # 3 trials
    run_trials(spec, study, data.search, 3)
    run_trials(spec, study, data.search, 1, worker=1)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 + ["FAIL"]
    for t in trials[:3]:
        assert t.user_attrs[record.WORKER] == 0
        assert t.user_attrs[record.PROCESS] == process_tag()
        assert t.user_attrs[record.SEED] == record.trial_seed(spec.seed, t.number)
    surplus = trials[3].user_attrs
    assert surplus[record.FAIL_REASON] == SURPLUS
    assert (surplus[record.WORKER], surplus[record.PROCESS]) == (1, process_tag())
    assert record.HISTORY not in surplus  # nothing trained


def test_an_output_folder_that_is_a_file_stops_the_run_before_anything_is_stored(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.toml").write_text(TINY_STUDY)
    (tmp_path / "taken").write_text("a file the user keeps")
    result = run_hpo(["--study", "tiny", "--out", "taken/run"], tmp_path, timeout=60)
    assert_setup_error(result, "'taken/run'", "is a file, not a folder", cwd=tmp_path)
    assert (tmp_path / "taken").read_text() == "a file the user keeps"


def test_hpo_tune_checks_its_out_dir_before_training(tmp_path):
    import numpy as np

    import hpo

    (tmp_path / "taken").write_text("")

    def build(trial):  # never called: the check comes first
        raise AssertionError("the builder ran before the output folder was checked")

    with pytest.raises(hpo.HpoError, match="is a file, not a folder"):
        hpo.tune(build, np.zeros((20, 3)), np.zeros(20), out_dir=tmp_path / "taken",
                 storage=f"sqlite:///{tmp_path / 't.db'}")
    assert not (tmp_path / "t.db").exists()
