"""Progress of a search: a line per finished trial always, a bar only in a terminal."""

from __future__ import annotations

import io
import logging

import optuna
import pytest

from hpo.progress import TrialProgress, trial_progress

optuna.logging.set_verbosity(optuna.logging.WARNING)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def optimize(study, progress, n):
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n, callbacks=[progress])


def progress_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "hpo.progress"]


def test_a_terminal_gets_a_bar_and_the_lines(caplog):
    caplog.set_level(logging.INFO, logger="hpo.progress")
    stream = FakeTerminal()
    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.2):  # a resumed study: the count goes on from what is stored
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE,
                                                  value=value))
    with trial_progress(5, 2, stream=stream) as progress:
        optimize(study, progress, 3)
    bar = stream.getvalue()
    assert "\r" in bar and "5/5" in bar and "trials" in bar
    lines = progress_lines(caplog)
    assert [line.split()[0] for line in lines] == ["[3/5]", "[4/5]", "[5/5]"]


def test_without_a_terminal_there_is_no_bar_only_the_lines(caplog):
    caplog.set_level(logging.INFO, logger="hpo.progress")
    stream = io.StringIO()
    study = optuna.create_study(direction="maximize")
    with trial_progress(2, 0, stream=stream) as progress:
        optimize(study, progress, 2)
    assert stream.getvalue() == ""
    assert len(progress_lines(caplog)) == 2


@pytest.mark.parametrize("state, attrs, fragment", [
    ("COMPLETE", {"epochs": 3, "seconds_per_epoch": 1.5}, "val_accuracy 0.5000, 3 epochs at 1.5"),
    ("PRUNED", {"epochs": 1, "seconds_per_epoch": 0.5}, "pruned after epoch 1"),
    ("FAIL", {"fail_reason": "diverged: 1e9\nmore", "epochs": 1}, "failed: diverged: 1e9 |"),
    ("FAIL", {}, "failed: see above"),
])
def test_the_line_says_how_each_trial_ended(caplog, state, attrs, fragment):
    caplog.set_level(logging.INFO, logger="hpo.progress")
    study = optuna.create_study(direction="maximize")
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState[state], value=0.5 if state == "COMPLETE" else None,
        user_attrs=attrs)
    study.add_trial(trial)
    TrialProgress(4, 0)(study, study.trials[-1])
    (line,) = progress_lines(caplog)
    assert line.startswith("[1/4] trial 0 ") and fragment in line


@pytest.mark.slow
def test_a_run_in_a_log_file_has_the_lines_and_no_bar(mixed_run):
    err = mixed_run.result.stderr
    for count in range(1, 6):
        assert f"[{count}/5] trial {count - 1} " in err
    assert "\r" not in err
    assert not any(c in err for c in "█▏▎▍▌▋▊▉"), "a tqdm bar in a non-terminal stream"
    assert "trial/s" not in err and "s/trial" not in err
