from __future__ import annotations

import json

import optuna
import pytest
import yaml

from hpo import run
from hpo.errors import HpoError
from hpo.export import load_config, main, model_from_config


@pytest.fixture
def stored_study(tmp_path, study_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run.main(["--study", "tiny", "--trials", "4", "--no-final"]) == 0
    return optuna.load_study(study_name="tiny", storage="sqlite:///hpo.db")


def test_top_k_configs_rebuild_models_with_the_recorded_size(stored_study, tmp_path, capsys):
    assert main(["--study", "tiny", "--top", "3", "--out", "cfg"]) == 0
    files = sorted((tmp_path / "cfg").glob("*.json"))
    assert len(files) == 3
    complete = sorted((t for t in stored_study.trials if t.state.name == "COMPLETE"),
                      key=lambda t: t.value, reverse=True)
    configs = [json.loads(f.read_text()) for f in files]
    assert [c["trial"] for c in sorted(configs, key=lambda c: c["rank"])] == [
        t.number for t in complete[:3]]
    for config in configs:
        trial = stored_study.trials[config["trial"]]
        path = tmp_path / "cfg" / f"top{config['rank']}-trial{trial.number}.json"
        model = model_from_config(path)
        assert model.count_params() == trial.user_attrs["n_params"]


def test_yaml_export_round_trips(stored_study, tmp_path):
    assert main(["--study", "tiny", "--format", "yaml", "--out", "y"]) == 0
    (path,) = (tmp_path / "y").glob("*.yaml")
    config = yaml.safe_load(path.read_text())
    assert config["params"] == stored_study.best_trial.params
    assert load_config(path)["rank"] == 1


def test_unknown_study_and_missing_storage_are_one_line_errors(stored_study, tmp_path, capsys):
    assert main(["--study", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert main(["--study", "tiny", "--storage", "sqlite:///missing.db"]) == 2
    assert "no SQLite file 'missing.db'" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()


def test_a_config_without_its_model_description_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"params": {}}))
    with pytest.raises(HpoError, match="lacks model, input_shape"):
        model_from_config(path)


KERAS_ALONE = """
import json, sys
sys.modules["hpo"] = None  # hpo is not importable: Keras alone rebuilds the model
import keras

config = json.load(open(sys.argv[1]))
model = keras.models.model_from_json(json.dumps(config["keras"]["model"]))
optimizer = keras.optimizers.deserialize(config["keras"]["optimizer"])
model.compile(optimizer=optimizer, loss=config["keras"]["loss"]["config"],
              metrics=config["keras"]["metrics"])
lr = optimizer.get_config()["learning_rate"]
print(json.dumps({"n_params": model.count_params(), "optimizer": type(optimizer).__name__,
                  "schedule": lr.get("class_name") if isinstance(lr, dict) else None,
                  "decay_rate": lr["config"]["decay_rate"] if isinstance(lr, dict) else None}))
"""


def test_an_exported_config_rebuilds_with_keras_alone(tmp_path, study_file, monkeypatch):
    import subprocess
    import sys

    # SGD with inverse-time decay: the schedule must survive the trip, not be dropped.
    study_file.write_text(study_file.read_text().replace(
        'optimizer = ["adam", "sgd"]', 'optimizer = "sgd"\ndecay = 0.01'))
    monkeypatch.chdir(tmp_path)
    assert run.main(["--study", "tiny", "--trials", "2", "--no-final"]) == 0
    assert main(["--study", "tiny", "--out", "cfg"]) == 0
    (path,) = (tmp_path / "cfg").glob("*.json")
    config = json.loads(path.read_text())
    assert config["seed"] == 1 + config["trial"] and config["space"]["decay"]
    assert {"hpo", "keras", "tensorflow"} <= set(config["versions"])
    out = subprocess.run([sys.executable, "-c", KERAS_ALONE, str(path)], cwd=tmp_path,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    rebuilt = json.loads(out.stdout.strip().splitlines()[-1])
    assert rebuilt == {"n_params": config["n_params"], "optimizer": "SGD",
                       "schedule": "InverseTimeDecay", "decay_rate": 0.01}


def test_export_writes_beside_the_run_s_out_folder(tmp_path, study_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run.main(["--study", "tiny", "--trials", "2", "--no-final", "--out", "mine"]) == 0
    assert main(["--study", "tiny"]) == 0
    assert list((tmp_path / "mine" / "configs").glob("top1-trial*.json"))
    assert not (tmp_path / "runs").exists()
