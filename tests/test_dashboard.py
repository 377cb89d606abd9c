"""``python -m hpo.dashboard``: optuna-dashboard serves a study hpo made, user attributes too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import optuna
import pytest
from conftest import ROOT, run_hpo

from hpo.dashboard import command, main, study_url

optuna.logging.set_verbosity(optuna.logging.WARNING)

START_TIMEOUT = 60.0  # seconds for the server to answer; it imports optuna and bottle


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return json.loads(response.read())


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the dashboard exited with {server.returncode}: "
                        f"{server.stderr.read()[-2000:]}")
        try:
            get_json(f"{base}/api/meta", timeout=2.0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    pytest.fail(f"the dashboard did not answer at {base} within {START_TIMEOUT:.0f} s")


@pytest.mark.slow
def test_the_dashboard_serves_the_study_with_its_trials_user_attributes(mixed_run, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "hpo.dashboard", "--study", "mixed", "--storage",
         mixed_run.storage, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        studies = get_json(f"{base}/api/studies")["study_summaries"]
        (summary,) = [s for s in studies if s["study_name"] == "mixed"]
        study_id = summary["study_id"]
        assert {a["key"] for a in summary["user_attrs"]} >= {"family", "dataset"}

        detail = get_json(f"{base}/api/studies/{study_id}")
        trials = detail["trials"]
        assert [t["state"].upper() for t in trials] == mixed_run.states()
        for trial in trials:
            attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
            assert {"n_params", "epochs", "seconds_per_epoch", "history"} <= set(attrs), trial
            assert int(attrs["n_params"]) > 0 and int(attrs["epochs"]) >= 1
            assert json.loads(attrs["history"])["val_accuracy"]
        pruned = next(t for t in trials if t["state"] == "Pruned")
        failed = next(t for t in trials if t["state"] == "Fail")
        assert "pruned after epoch" in dict(
            (a["key"], a["value"]) for a in pruned["user_attrs"])["pruned_reason"]
        assert "diverged" in dict(
            (a["key"], a["value"]) for a in failed["user_attrs"])["fail_reason"]
        assert detail["best_trials"][0]["number"] in (0, 1, 2)
        # The page the command printed is served too.
        with urllib.request.urlopen(study_url("127.0.0.1", port, study_id), timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert f"{base}/dashboard/studies/{study_id}" in out


def test_an_unknown_study_is_a_one_line_error_listing_the_studies(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="alpha", storage=url)
    optuna.create_study(study_name="beta", storage=url)
    assert main(["--study", "gamma", "--storage", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("hpo.dashboard: error: no study 'gamma'")
    assert "studies there: alpha, beta" in err


def test_a_missing_storage_file_is_not_created(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--study", "x"]) == 2
    assert "no SQLite file 'hpo.db'" in capsys.readouterr().err
    assert not (tmp_path / "hpo.db").exists()


def test_the_printed_command_masks_passwords_and_quotes():
    assert command("mlp", "sqlite:///hpo.db") == \
        "python -m hpo.dashboard --study mlp --storage sqlite:///hpo.db"
    line = command("my study", "postgresql://user:secret@host/db")
    assert "secret" not in line and "'my study'" in line and "user:***@host/db" in line


def test_passwords_are_masked_in_errors(capsys):
    assert main(["--study", "x", "--storage", "oracle9://user:secret@host/db"]) == 2
    err = capsys.readouterr().err
    assert "secret" not in err and "***" in err


def test_a_taken_port_is_a_one_line_error(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="alpha", storage=url)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # In a subprocess with a timeout: were the port not taken, the server would not return.
        result = run_hpo(["--study", "alpha", "--storage", url, "--port", str(port)], tmp_path,
                         module="hpo.dashboard", timeout=60)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"hpo.dashboard: error: cannot serve on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_bad_port_is_refused(port, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--study", "x", "--port", port])
    assert exit_.value.code == 2
    assert "expected a port number 1..65535" in capsys.readouterr().err
