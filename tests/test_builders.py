"""Bring your own model: builders named by a study file, checked before anything is stored."""

from __future__ import annotations

import json
import signal

import optuna
import pytest
from conftest import run_hpo, run_python, start_hpo, wait_for
from test_run import assert_setup_error

from hpo.storage import count_finished

BUILDER = '''
import keras
import hpo


def build(trial, info):
    """Dense layers of the builder's own, hpo's dropout and activation from [space]."""
    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    for i in range(hpo.param(trial, "depth", 1)):
        x = keras.layers.Dense(trial.suggest_int(f"width_{i + 1}", 8, 32),
                               activation=hpo.param(trial, "activation"))(x)
        x = keras.layers.Dropout(hpo.param(trial, "dropout"))(x)
    return keras.Model(inputs, keras.layers.Dense(info.n_classes, activation="softmax")(x))


def compiled(trial):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def flaky(trial, info):
    if trial.number == 1:
        raise RuntimeError("trial 1 of flaky cannot be built")
    return build(trial, info)


def not_a_model(trial):
    return {"layers": 3}


def wrong_outputs(trial):
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax")])


def slow(trial, info):
    return build(trial, info)


NOT_CALLABLE = 42
'''

STUDY = '''
description = "a builder of the user's"
model = "mybuild:{function}"
seed = 1

[data]
dataset = "digits"
validation_size = 0.2

[budget]
trials = {trials}
max_epochs = {epochs}

[sampler]
name = "random"

[pruner]
name = "none"

[space]
depth = {{ low = 1, high = 2 }}
activation = ["relu", "tanh"]
dropout = {{ low = 0.0, high = 0.3 }}
learning_rate = {{ low = 0.001, high = 0.01, log = true }}
batch_size = {batch}
{extra}
'''


def write_study(tmp_path, function="build", trials=3, epochs=2, batch=64, extra="",
                builder=BUILDER, name="mine"):
    studies = tmp_path / "studies"
    studies.mkdir(exist_ok=True)
    (studies / "mybuild.py").write_text(builder)
    text = STUDY.format(function=function, trials=trials, epochs=epochs, batch=batch,
                        extra=extra)
    (studies / f"{name}.toml").write_text(text)
    return name


def load(tmp_path, name="mine"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'hpo.db'}")


@pytest.mark.slow
def test_a_builder_study_searches_its_own_and_hpo_s_dimensions_then_exports(tmp_path):
    name = write_study(tmp_path)
    result = run_hpo(["--study", name], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "held-out test accuracy:" in result.stdout
    study = load(tmp_path)
    assert study.user_attrs["family"] == "mybuild:build"
    # The builder's own suggestion, hpo's dimensions it read, and those hpo compiled with.
    assert {"depth", "width_1", "activation", "dropout", "learning_rate", "batch_size"} <= set(
        study.best_trial.params)
    best = json.loads((tmp_path / "runs" / name / "best.json").read_text())
    assert best["model"] == "mybuild:build" and best["metric"] == "val_accuracy"
    assert best["test_score"] == pytest.approx(best["test_accuracy"], abs=1e-6)

    exported = run_hpo(["--study", name, "--storage", f"sqlite:///{tmp_path / 'hpo.db'}",
                        "--out", "configs"], tmp_path, module="hpo.export")
    assert exported.returncode == 0, exported.stderr
    (config,) = (tmp_path / "configs").glob("top1-*.json")
    rebuilt = run_python(f"import hpo; m = hpo.model_from_config({str(config)!r}); "
                         f"print(m.count_params())", tmp_path / "studies")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert int(rebuilt.stdout.split()[-1]) == study.best_trial.user_attrs["n_params"]


@pytest.mark.slow
def test_a_compiled_model_trains_as_it_is_and_a_raising_builder_fails_one_trial(tmp_path):
    name = write_study(tmp_path, function="flaky", trials=3, epochs=1)
    result = run_hpo(["--study", name, "--no-final"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    states = [t.state.name for t in load(tmp_path).trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    assert load(tmp_path).trials[1].user_attrs["fail_reason"] == (
        "RuntimeError: trial 1 of flaky cannot be built")

    # A compiled model: hpo neither samples nor applies an optimizer; [space] must not claim one.
    (tmp_path / "studies" / "comp.toml").write_text(
        STUDY.format(function="compiled", trials=1, epochs=1, batch=64, extra="").split(
            "[space]")[0] + "[space]\nbatch_size = 32\n")
    result = run_hpo(["--study", "comp", "--no-final"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (trial,) = load(tmp_path, "comp").trials
    assert trial.state.name == "COMPLETE" and trial.params == {"batch_size": 32}


BAD_BUILDERS = [
    ("nomodule:build", ["cannot import module 'nomodule'", "No module named 'nomodule'"]),
    ("mybuild:missing", ["module 'mybuild' has no 'missing'", "it defines: ", "build"]),
    ("mybuild:NOT_CALLABLE", ["'mybuild:NOT_CALLABLE' is a int, not a function"]),
    ("mybuild:not_a_model", ["the builder returned a dict, not a keras.Model"]),
    ("mybuild:wrong_outputs", ["output layer has 3 unit(s), but the data has 10 classes",
                               "Dense(10)"]),
]


@pytest.mark.parametrize("model, fragments", BAD_BUILDERS)
def test_a_bad_builder_stops_the_run_before_anything_is_stored(tmp_path, model, fragments):
    name = write_study(tmp_path, function=model.split(":")[1])
    text = (tmp_path / "studies" / f"{name}.toml").read_text()
    (tmp_path / "studies" / f"{name}.toml").write_text(
        text.replace('model = "mybuild:', f'model = "{model.split(":")[0]}:'))
    assert_setup_error(run_hpo(["--study", name], tmp_path), *fragments, cwd=tmp_path)


def test_a_space_entry_nobody_reads_is_a_setup_error(tmp_path):
    name = write_study(tmp_path, extra="kernel = [3, 5]")
    assert_setup_error(run_hpo(["--study", name], tmp_path), "[space]: kernel",
                       "neither hpo nor the model builder mybuild:build uses it",
                       "hpo.param(trial, 'kernel')", cwd=tmp_path)


def test_a_metric_the_model_does_not_log_lists_the_ones_it_does(tmp_path):
    name = write_study(tmp_path, extra="\n[objective]\nmetric = 'val_auc'\n")
    assert_setup_error(run_hpo(["--study", name], tmp_path),
                       "[objective] metric: the model logs no 'val_auc'",
                       "val_accuracy", "val_loss", cwd=tmp_path)


@pytest.mark.parametrize("extra, fragments", [
    ("\n[objective]\nmetric = 'accuracy'\n", ["unknown metric 'accuracy'",
                                               "did you mean 'val_accuracy'"]),
    ("\n[objective]\nmetric = 'val_f9'\n", ["unknown metric 'val_f9'",
                                             'direction = "maximize"']),
])
def test_an_unknown_metric_is_named_with_the_known_ones(tmp_path, extra, fragments):
    name = write_study(tmp_path, extra=extra)
    assert_setup_error(run_hpo(["--study", name], tmp_path), *fragments, cwd=tmp_path)


def test_an_unknown_task_is_named_with_the_valid_ones(tmp_path):
    name = write_study(tmp_path)
    path = tmp_path / "studies" / f"{name}.toml"
    path.write_text(path.read_text().replace("validation_size = 0.2",
                                             "validation_size = 0.2\ntask = 'clustering'"))
    assert_setup_error(run_hpo(["--study", name], tmp_path), "task: an unknown task "
                       "'clustering'", "classification, regression", cwd=tmp_path)


@pytest.mark.slow
def test_a_builder_study_on_two_workers_is_interrupted_and_resumes(tmp_path):
    name = write_study(tmp_path, function="slow", trials=3, epochs=40, batch=8)
    url = f"sqlite:///{tmp_path / 'hpo.db'}"

    def running():
        try:
            return any(t.state.name == "RUNNING" for t in load(tmp_path).get_trials())
        except Exception:  # noqa: BLE001 - the study is not there yet
            return False

    proc = start_hpo(["--study", name, "--workers", "2"], tmp_path)
    try:
        wait_for(running, 180, "a running trial")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    err = (tmp_path / "err.log").read_text()
    assert "Traceback" not in err and "interrupted" in err
    study = optuna.load_study(study_name=name, storage=url)
    assert all(t.state.name != "RUNNING" for t in study.get_trials())
    assert count_finished(study) < 3
    again = run_hpo(["--study", name, "--workers", "2", "--epochs", "2"], tmp_path, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    assert count_finished(optuna.load_study(study_name=name, storage=url)) == 3
    assert "held-out test accuracy" in again.stdout


def test_hpo_param_reads_a_fixed_rebuild_and_defaults(tmp_path):
    import hpo
    from hpo.space import Range, sampling

    trial = optuna.trial.FixedTrial({"dropout": 0.25, "depth": 3})
    with sampling(fixed={"dropout": 0.25, "depth": 3}):
        assert hpo.param(trial, "dropout") == 0.25 and hpo.param(trial, "depth", 1) == 3
        assert hpo.param(trial, "activation") == "relu"  # hpo's default
        assert hpo.param(trial, "kernel", 5) == 5
    study = optuna.create_study()
    live = study.ask()
    with sampling({"kernel": Range(3, 7, integer=True)}) as context:
        assert 3 <= hpo.param(live, "kernel", 5) <= 7
        assert hpo.param(live, "momentum") == 0.0  # Adam (the default) takes no momentum
    assert live.params.keys() == {"kernel"} and "kernel" in context.used
    with pytest.raises(RuntimeError, match="call the builder through hpo"):
        hpo.param(live, "dropout")


@pytest.mark.slow
def test_a_builder_study_cross_validates_tests_each_trial_and_can_have_two_objectives(tmp_path):
    name = write_study(tmp_path, trials=2, epochs=1, extra="")
    path = tmp_path / "studies" / f"{name}.toml"
    text = path.read_text().replace('seed = 1', 'seed = 1\nfinal = "each"\n'
                                    'objectives = ["metric", "n_params"]')
    path.write_text(text.replace("validation_size = 0.2", "validation_size = 0.2\ncv_folds = 2"))
    result = run_hpo(["--study", name], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(tmp_path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert all(len(t.user_attrs["fold_scores"]) == 2 for t in study.trials)
    front = json.loads((tmp_path / "runs" / name / "front.json").read_text())
    assert front["metric"] == "val_accuracy" and all(
        m["test_score"] is not None for m in front["members"])
    assert (tmp_path / "runs" / name / "report.html").is_file()


def test_the_built_in_mlp_is_a_regression_model_on_float_targets():
    import keras

    from hpo.builders import build
    from hpo.data import DataInfo
    from hpo.models import mlp
    from hpo.space import sampling

    info = DataInfo((5,), "regression", None, 2)
    with sampling(fixed={"n_layers": 1, "units_1": 4}):
        model = build(mlp, optuna.trial.FixedTrial({}), info)
    assert model.outputs[0].shape[-1] == 2 and model.layers[-1].activation is \
        keras.activations.linear
    assert model.loss == "mse"


def test_reading_a_stored_study_loads_no_tensorflow(tmp_path):
    result = run_python("import sys, hpo.export, hpo.report, hpo.results, hpo.record, "
                        "hpo.dashboard; print('tensorflow' in sys.modules)", tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_an_uncompiled_model_gets_a_cosine_over_its_own_batches():
    import keras

    from hpo.builders import build
    from hpo.data import DataInfo
    from hpo.space import Fixed, Run, sampling

    def builder(trial):  # a user's model, compiled by hpo with the study's dimensions
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    space = {"schedule": Fixed("cosine"), "batch_size": Fixed(32), "learning_rate": Fixed(0.01)}
    with sampling(space, run=Run(examples=100, epochs=2)):
        model = build(builder, optuna.create_study().ask(), DataInfo((4,), n_classes=3))
    # 4 batches of 32 an epoch, not hpo's default batch of 128 (1 an epoch).
    assert model.optimizer._learning_rate.decay_steps == 2 * 4


def test_the_retrain_runs_the_schedule_the_trial_ran_with():
    from hpo import record

    study = optuna.create_study()
    study.set_user_attr(record.SEARCH, {"retrain_run": {"examples": 1437, "epochs": 12}})
    trial = study.ask()
    # Run with --epochs 3 before a rerun at the study's 12: its cosine spanned 3 epochs.
    trial.set_user_attr(record.MAX_EPOCHS, 3)
    study.tell(trial, 0.9)
    assert record.retrain_run(study, study.trials[0]) == {"examples": 1437, "epochs": 3}
