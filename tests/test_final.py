"""The final step: the test split is opened once, after the search, by the retrain alone."""

from __future__ import annotations

import json
from datetime import datetime

import keras
import numpy as np
import optuna
import pytest
from conftest import TINY_STUDY

import hpo.data
import hpo.models
from hpo import run


@pytest.fixture(scope="module")
def ran_study(tmp_path_factory):
    """Run the tiny study in-process once for this module and note when the test split was
    opened."""
    tmp_path = tmp_path_factory.mktemp("final")
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.toml").write_text(TINY_STUDY)
    opened = []
    real_open = hpo.data.SealedSplit.open

    def spy(self):
        opened.append(datetime.now())
        return real_open(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setattr(hpo.data.SealedSplit, "open", spy)
        assert run.main(["--study", "tiny", "--trials", "3", "--seed", "3"]) == 0
        study = optuna.load_study(study_name="tiny", storage="sqlite:///hpo.db")
    return study, opened, tmp_path / "runs" / "tiny"


def test_test_split_is_opened_once_after_every_trial_finished(ran_study):
    study, opened, _ = ran_study
    assert len(opened) == 1
    assert all(t.datetime_complete < opened[0] for t in study.trials)


def test_best_json_describes_the_best_trial_and_its_test_score(ran_study):
    study, _, out = ran_study
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == study.best_trial.number
    assert best["params"] == study.best_trial.params
    assert best["value"] == pytest.approx(study.best_value)
    assert best["epochs"] == study.best_trial.user_attrs["best_epoch"]
    assert best["n_params"] == study.best_trial.user_attrs["n_params"]
    assert study.user_attrs["final"]["test_accuracy"] == pytest.approx(best["test_accuracy"])


def test_best_json_has_the_test_confusion_matrix_and_the_retrain_history(ran_study):
    _, _, out = ran_study
    best = json.loads((out / "best.json").read_text())
    # What best.json held before it had these keys is all still there.
    for key in ("study", "trial", "model", "dataset", "input_shape", "n_classes", "params",
                "value", "n_params", "epochs", "seconds_per_epoch", "test_accuracy",
                "test_loss", "n_train", "n_test", "retrain_seconds"):
        assert key in best
    _, y_test = hpo.data.load_dataset(hpo.spec.DataSpec("digits", validation_size=0.2),
                                      seed=3).test.open()
    matrix = np.array(best["confusion_matrix"])
    # Rows are the true classes: each sums to that class's count in the test split.
    assert matrix.sum(axis=1).tolist() == np.bincount(y_test, minlength=10).tolist()
    assert matrix.sum() == best["n_test"] == len(y_test)
    assert np.trace(matrix) / len(y_test) == pytest.approx(best["test_accuracy"])
    assert {k: len(v) for k, v in best["history"].items()} == {
        "loss": best["epochs"], "accuracy": best["epochs"]}


def test_saved_model_reproduces_the_reported_test_accuracy(ran_study):
    _, _, out = ran_study
    best = json.loads((out / "best.json").read_text())
    model = keras.models.load_model(out / "model.keras")
    data = hpo.data.load_dataset(hpo.spec.DataSpec("digits", validation_size=0.2), seed=3)
    x, y = data.test.open()
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy == pytest.approx(best["test_accuracy"], abs=1e-6)
    assert np.isfinite(loss)


def test_a_cross_validated_study_retrains_its_best_trial_for_the_median_best_epoch(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "cv.toml").write_text(
        TINY_STUDY.replace("validation_size = 0.2", "validation_size = 0.2\ncv_folds = 3"))
    monkeypatch.chdir(tmp_path)
    assert run.main(["--study", "cv", "--trials", "2", "--seed", "3"]) == 0
    assert "1437 in 3 cross-validation folds / 360 test, sealed" in capsys.readouterr().out
    study = optuna.load_study(study_name="cv", storage="sqlite:///hpo.db")
    trial = study.best_trial
    assert len(trial.user_attrs["fold_scores"]) == 3
    best = json.loads((tmp_path / "runs" / "cv" / "best.json").read_text())
    assert best["trial"] == trial.number and best["value"] == pytest.approx(trial.value)
    # Not the epochs summed over the folds: the best epoch of one model, as the retrain is one.
    assert best["epochs"] == trial.user_attrs["best_epoch"] <= 2 < trial.user_attrs["epochs"]
    assert len(best["history"]["loss"]) == best["epochs"]
    assert best["n_train"] == 1437  # every non-test example, each fold's validation included


def test_the_interval_adds_the_seed_spread_and_the_test_set_s_own_error():
    from hpo.final import interval

    # No seed spread: the binomial error of 10 000 test examples alone, ±1.96·sqrt(pq/n).
    low, high = interval(0.975, 0.0, 3, 10_000)
    assert (high - low) / 2 == pytest.approx(1.96 * (0.975 * 0.025 / 10_000) ** 0.5)
    # Seeds only (a metric without a binomial part): Student's t with 2 degrees of freedom.
    low, high = interval(0.5, 0.01, 3, None)
    assert (high - low) / 2 == pytest.approx(4.3027 * 0.01 / 3 ** 0.5, rel=1e-4)
    # An AUC near 1 keeps its interval inside [0, 1].
    assert interval(0.99, 0.02, 3, None, bounded=True)[1] == 1.0
    # Both: wider than either alone.
    both = interval(0.975, 0.01, 3, 10_000)
    assert both[1] - both[0] > max(high - low, 2 * 1.96 * (0.975 * 0.025 / 10_000) ** 0.5)


def test_scores_are_printed_to_the_precision_of_their_split():
    from hpo.record import format_score

    assert format_score(0.95417) == "0.9542"  # no size known: four decimals
    assert format_score(0.95417, n=240) == "0.954"  # ±0.014: three
    assert format_score(0.97512, n=10_000) == "0.9751"  # ±0.0016: four
    assert format_score(44.28229) == "44.28"  # not a [0, 1] score: four digits


def test_a_cosine_schedule_spans_max_epochs_in_the_trials_the_retrain_and_the_export(
        tmp_path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "cos.toml").write_text(TINY_STUDY.replace(
        "max_epochs = 2", "max_epochs = 3").replace("batch_size = 64",
                                                    'batch_size = 64\nschedule = "cosine"'))
    spans = []
    real = hpo.models.make_optimizer

    def spy(p, run=None):
        optimizer = real(p, run)
        spans.append(optimizer._learning_rate.decay_steps)
        return optimizer

    monkeypatch.setattr(hpo.models, "make_optimizer", spy)
    monkeypatch.chdir(tmp_path)
    assert run.main(["--study", "cos", "--trials", "2", "--seed", "3"]) == 0
    search = hpo.data.load_dataset(hpo.spec.DataSpec("digits", validation_size=0.2),
                                   seed=3).search
    batches = -(-len(search.y_train) // 64)
    retrain = -(-(len(search.y_train) + len(search.y_val)) // 64)
    # Each trial runs its rate to 0 at epoch 3 whenever it stops; the retrain on more examples
    # takes more steps for the same 3 epochs, so its rate is the trial's epoch by epoch.
    assert spans[0] == 3 * batches and spans[-1] == 3 * retrain
    best = json.loads((tmp_path / "runs" / "cos" / "best.json").read_text())
    lr = best["keras"]["optimizer"]["config"]["learning_rate"]
    assert lr["class_name"] == "CosineDecay" and lr["config"]["decay_steps"] == 3 * retrain
    rebuilt = hpo.model_from_config(tmp_path / "runs" / "cos" / "best.json")
    assert rebuilt.optimizer._learning_rate.decay_steps == 3 * retrain
