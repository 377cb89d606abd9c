"""What a rerun picks up before it searches: trials that did not finish, run again.

- A trial stopped by Ctrl-C or SIGTERM (``fail_reason = "interrupted"``) is queued again with
  its parameters, seed and checkpoint: it resumes after its last completed epoch.
- A trial left RUNNING by a process of this machine that is gone (``kill -9``, a crash, the
  machine's reboot) is failed with that reason and queued again the same way, at once: no
  need to wait for its heartbeat to go stale. A trial of another machine is left to the
  heartbeat: when it misses its grace period, Optuna's retry queues it again (and the
  objective resumes it from the checkpoint, if that machine's folder is reachable).

A queued retry is what Optuna's ``RetryFailedTrialCallback`` makes (``failed_trial`` and
``retry_history`` system attributes, so hpo's counts skip the original), with the trial's own
attributes minus its outcome.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import optuna

from hpo import record
from hpo.storage import retried_numbers

# What a retry does not inherit from its predecessor: how that one ended.
_OUTCOME = (record.FAIL_REASON, record.PRUNED_REASON, record.RESUMED, record.SIGNAL)


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue ``trial`` to run again, as Optuna's retry callback queues a dead worker's trial."""
    system_attrs: dict[str, Any] = {"failed_trial": trial.number, "retry_history": [],
                                    **trial.system_attrs}
    system_attrs["retry_history"] = [*system_attrs["retry_history"], trial.number]
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=trial.params,
        distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k not in _OUTCOME},
        system_attrs=system_attrs))


def process_gone(tag: str | None) -> bool:
    """Whether ``tag`` ("host:pid") names a process of this machine that no longer runs."""
    if not tag or ":" not in tag:
        return False
    host, _, pid = tag.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def recover(storage: optuna.storages.BaseStorage, study: optuna.Study) -> list[str]:
    """Queue again the study's interrupted trials and those whose process here died; one line
    per trial, saying what happened to it."""
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    lines = []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in trials:
        if trial.number in retried:
            continue
        if trial.state == optuna.trial.TrialState.RUNNING and process_gone(
                trial.user_attrs.get(record.PROCESS)):
            epochs = len(trial.intermediate_values)  # the epochs it reported
            reason = (f"worker died: process {trial.user_attrs[record.PROCESS]} is gone"
                      f"{f' after epoch {epochs}' if epochs else ''}; queued to resume")
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, record.FAIL_REASON, reason)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            lines.append(f"trial {trial.number}: its process is gone; queued to resume")
        elif trial.state == optuna.trial.TrialState.FAIL and \
                trial.user_attrs.get(record.FAIL_REASON) == record.INTERRUPTED:
            lines.append(f"trial {trial.number} was interrupted; queued to resume")
        else:
            continue
        requeue(study, trial)
    return lines
