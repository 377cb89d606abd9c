from __future__ import annotations

import pytest

from hpo.errors import StorageError
from hpo.storage import check_url, mask, open_study


@pytest.mark.parametrize("url, fragment", [
    ("not a url", "malformed storage URL"),
    ("sqlite//hpo.db", "malformed storage URL"),
    ("nosuchdb://host/db", "unknown database 'nosuchdb'"),
    ("sqlite://", "names no database file"),
])
def test_bad_storage_urls_are_refused_before_anything_is_written(tmp_path, monkeypatch, url,
                                                                   fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=fragment):
        check_url(url)
    assert list(tmp_path.iterdir()) == []


def test_good_urls_pass():
    assert check_url("sqlite:///hpo.db") == "sqlite:///hpo.db"


def test_mask_hides_the_password():
    assert mask("postgresql://ann:s3cret@db.example/hpo") == "postgresql://ann:***@db.example/hpo"
    assert "s3cret" not in mask("::ann:s3cret@weird")


def test_resuming_a_study_made_on_other_data_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    identity = {"dataset": "digits", "space": {"units": "Choice(8, 16)", "dropout": "0.1"}}
    open_study(url, "s", "maximize", identity)
    assert open_study(url, "s", "maximize", identity).user_attrs["dataset"] == "digits"
    expected = "dataset = 'digits', but this run has dataset = 'mnist'"
    with pytest.raises(StorageError, match=expected):
        open_study(url, "s", "maximize", {**identity, "dataset": "mnist"})
    changed = {**identity, "space": {"units": "Choice(8, 32)", "dropout": "0.1"}}
    with pytest.raises(StorageError, match=r"different \[space\] \(changed: units\).*delete-study"):
        open_study(url, "s", "maximize", changed)
