from __future__ import annotations

from pathlib import Path

import pytest

from hpo.errors import SpecError
from hpo.space import Choice, Fixed, Range
from hpo.spec import available_studies, load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent


def spec_from(text: str, tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_spec(str(path))


def test_bundled_mlp_study_loads_with_its_ranges():
    spec = load_spec(str(ROOT / "studies" / "mlp.toml"))
    assert spec.name == "mlp" and spec.family == "mlp" and spec.data.dataset == "mnist"
    assert spec.budget.trials >= 1 and spec.budget.max_epochs >= 1
    lr = spec.space["learning_rate"]
    assert isinstance(lr, Range) and lr.log and 0 < lr.low < lr.high
    assert set(spec.space["optimizer"].values) == {
        "sgd", "adam", "nadam", "rmsprop", "adagrad", "adadelta"}


def test_bundled_studies_are_listed_by_name(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert "mlp" in available_studies()


def test_pinned_list_and_range_domains(tmp_path):
    spec = spec_from("""
[space]
optimizer = "sgd"
batch_size = [32, 64]
dropout = { low = 0, high = 0.5, step = 0.1 }
units = { low = 8, high = 64, log = true }
""", tmp_path)
    assert spec.space["optimizer"] == Fixed("sgd")
    assert spec.space["batch_size"] == Choice((32, 64))
    dropout = spec.space["dropout"]
    assert isinstance(dropout.low, float) and dropout.step == 0.1 and not dropout.integer
    assert spec.space["units"].integer and spec.space["units"].log


def test_spec_is_frozen(tmp_path):
    spec = spec_from("", tmp_path)
    with pytest.raises(AttributeError):
        spec.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize("text, fragments", [
    ("colour = 1", ["unknown key 'colour'", "valid keys", "budget"]),
    ("[budget]\ntrails = 3", ["[budget]", "unknown key 'trails'", "trials"]),
    ("[data]\ndataset = 'cifar'", ["unknown dataset 'cifar'", "mnist, digits"]),
    ("[data]\ncv_folds = 1", ["[data]: cv_folds: got 1", "integer >= 2", "leave it out"]),
    ("[data]\ncv_folds = -3", ["cv_folds: got -3", "integer >= 2"]),
    ("[data]\ncv_folds = 5.0", ["cv_folds: got 5.0", "integer >= 2"]),
    ("[data]\ncv_folds = true", ["cv_folds: got True", "integer >= 2"]),
    ("[data]\nfolds = 5", ["[data]", "unknown key 'folds'", "cv_folds"]),
    ("[space]\nlearning_rate = { low = 0.1, high = 0.01, log = true }",
     ["learning_rate", "low (0.1) > high (0.01)", "swap"]),
    ("[space]\nlearning_rate = { low = 0.0, high = 0.1, log = true }",
     ["learning_rate", "got 0.0", "> 0"]),
    ("[space]\nl2 = { low = 0.0, high = 0.1, log = true }", ["l2", "log range needs low > 0"]),
    ("[space]\nunits = { low = 8, high = 64, scale = 2 }", ["units", "unknown key 'scale'"]),
    ("[space]\noptimizer = ['adam', 'adamm']",
     ["optimizer", "'adamm'", "sgd, adam, nadam, rmsprop, adagrad, adadelta"]),
    ("[space]\nactivation = 'swish'", ["activation", "'swish'", "relu, tanh"]),
    ("[space]\ninitializer = ['zeros']", ["initializer", "'zeros'", "he_normal"]),
    ("[space]\nwidth = 3", ["unknown hyperparameter 'width'", "units"]),
    ("[space]\nbatch_size = [32, '64']", ["batch_size", "expected an integer"]),
    ("[space]\ndropout = 1.5", ["dropout", "expected a number >= 0 and < 1"]),
    ("[sampler]\nname = 'bayes'", ["unknown sampler 'bayes'", "tpe, random, grid"]),
    ("[sampler]\nname = 'tpe'\nn_startup = 3", ["unknown option 'n_startup'", "n_startup_trials"]),
    ("[pruner]\nname = 'asha'", ["unknown pruner 'asha'", "median", "hyperband", "none"]),
    ("[budget]\ntrials = 0", ["trials", "got 0", "integer >= 1"]),
    ("[budget]\nmax_epochs = 0", ["max_epochs", "got 0", "integer >= 1"]),
    ("[sampler]\nname = 'grid'\n[space]\nlearning_rate = { low = 0.01, high = 0.1 }",
     ["grid sampler", "'learning_rate' is a continuous range"]),
    ("[space]\nfilters = 32", ["filters", "only the cnn family", 'family = "mlp"']),
    ("family = 'rnn'", ["unknown model family 'rnn'", "mlp, cnn"]),
    ("final = 'all'", ["final", "'all'", "best, each"]),
    ("follows = 's'", ["follows", "another study"]),
    ("[[enqueue]]\nlearning_rat = 0.1", ["[[enqueue]] #1", "unknown parameter 'learning_rat'",
                                          "learning_rate"]),
    ("[space]\nbatch_size = [32, 64]\n[[enqueue]]\nbatch_size = 128",
     ["[[enqueue]] #1 batch_size", "128 is outside the study's [space]"]),
    ("[[enqueue]]\nunits_2 = 'wide'", ["[[enqueue]] #1 units_2", "expected an integer"]),
    ("objectives = ['accuracy', 'size']", ["objectives: got ['accuracy', 'size']",
                                          '"metric", "accuracy", "n_params"',
                                          'objectives = ["metric", "n_params"]']),
    ("objectives = 'n_params'", ["objectives: got 'n_params'", "expected a list"]),
    ("objectives = []", ["objectives: got []", "expected a list"]),
    ("objectives = ['n_params', 'accuracy']", ["objectives", 'older name "accuracy") must '
                                                           'come first']),
    ("objectives = ['accuracy', 'accuracy']", ["objectives", "each name only once"]),
    ("objectives = ['accuracy', 'n_params']\n[pruner]\nname = 'median'",
     ["[pruner]: pruner 'median'", "cannot prune multi-objective trials",
      'set [pruner] name = "none"']),
])
def test_bad_study_files_name_the_field_and_the_fix(tmp_path, text, fragments):
    with pytest.raises(SpecError) as info:
        spec_from(text, tmp_path)
    message = str(info.value)
    assert "s.toml" in message
    for fragment in fragments:
        assert fragment in message


def test_cv_folds_is_off_unless_the_data_table_sets_it(tmp_path):
    assert spec_from("", tmp_path).data.cv_folds == 0
    assert spec_from("[data]\ncv_folds = 0", tmp_path).data.cv_folds == 0
    assert spec_from("[data]\ncv_folds = 5", tmp_path).data.cv_folds == 5


def test_invalid_toml_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML"):
        spec_from("[space\noptimizer = 'adam'", tmp_path)


def test_unknown_study_lists_the_known_ones(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SpecError, match=r"unknown study 'nope'; known studies: .*mlp"):
        load_spec("nope")


def test_override_applies_and_validates(tmp_path):
    spec = spec_from("[budget]\ntrials = 5", tmp_path)
    changed = spec.override(trials=9, max_epochs=2, sampler="random", pruner="hyperband",
                            dataset="digits", seed=7, timeout=None)
    assert (changed.budget.trials, changed.budget.max_epochs) == (9, 2)
    assert (changed.sampler.name, changed.pruner.name, changed.data.dataset, changed.seed) == (
        "random", "hyperband", "digits", 7)
    assert spec.budget.trials == 5  # the original is untouched
    with pytest.raises(SpecError, match="trials"):
        spec.override(trials=0)


def test_a_multi_objective_study_prunes_nothing_unless_told_and_refuses_a_pruner_flag(tmp_path):
    single = spec_from("", tmp_path)
    assert (single.objectives, single.directions, single.pruner.name) == (
        ("metric",), ["maximize"], "successive_halving")
    spec = spec_from("objectives = ['accuracy', 'n_params']", tmp_path)
    assert spec.multi_objective and spec.directions == ["maximize", "minimize"]
    assert spec.pruner.name == "none"  # the default, as Optuna cannot prune these trials
    with pytest.raises(SpecError, match=r"--pruner: pruner 'hyperband': Optuna cannot prune.*"
                                        r"--pruner none"):
        spec.override(pruner="hyperband")
    assert spec.override(pruner="none", sampler="nsga2").sampler.name == "nsga2"


def test_overriding_the_dataset_keeps_cross_validation_on(tmp_path):
    spec = spec_from("[data]\ndataset = 'mnist'\nvalidation_size = 10000\ncv_folds = 4", tmp_path)
    changed = spec.override(dataset="digits")
    assert changed.data.dataset == "digits" and changed.data.cv_folds == 4


def test_missing_sampler_extra_says_how_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cmaes" else real(name, *a))
    with pytest.raises(SpecError, match=r"needs the 'cmaes' package.*pip install 'hpo\[cmaes\]'"):
        parse_spec({"sampler": {"name": "cmaes"}}, name="x")


def test_layers_lists_architectures_and_excludes_units(tmp_path):
    spec = spec_from("[space]\nlayers = [[128], [128, 64], [512, 256, 128]]", tmp_path)
    assert spec.space["layers"] == Choice(("128", "128-64", "512-256-128"))
    with pytest.raises(SpecError, match="'layers' sets whole architectures.*units"):
        spec_from("[space]\nlayers = [[128]]\nunits = 64", tmp_path)
    with pytest.raises(SpecError, match=r"layers: got \[0\]; expected a list of layer widths"):
        spec_from("[space]\nlayers = [[0]]", tmp_path)


def test_enqueued_configurations_are_checked_and_kept_in_order(tmp_path):
    spec = spec_from("""
family = "cnn"
[space]
filters = { low = 8, high = 64 }
conv_blocks = [1, 2]
[[enqueue]]
conv_blocks = 2
filters_1 = 16
filters_2 = 32
[[enqueue]]
conv_blocks = 1
""", tmp_path)
    assert [dict(e) for e in spec.enqueue] == [
        {"conv_blocks": 2, "filters_1": 16, "filters_2": 32}, {"conv_blocks": 1}]


def test_every_bundled_study_loads(monkeypatch):
    monkeypatch.chdir(ROOT)
    studies = available_studies()
    assert {"mlp", "cnn", "batch_size", "learning_rate", "optimizers", "adam_grid",
            "loss_output", "repeats"} <= set(studies)
    for name, path in studies.items():
        spec = load_spec(str(path))
        for link in (spec.follows, spec.then):
            assert link is None or link in studies, f"{name} names a missing study {link}"
