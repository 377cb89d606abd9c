"""Where studies live: storage URLs checked up front, studies created or resumed by name."""

from __future__ import annotations

import os

import optuna
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from hpo.errors import StorageError

DEFAULT_STORAGE = "sqlite:///hpo.db"


def check_url(url: str) -> str:
    """Return ``url`` if SQLAlchemy can parse it and knows its dialect; StorageError if not.

    Nothing is connected to or written here.
    """
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as e:
        raise StorageError(
            f"malformed storage URL {mask(url)!r} ({e}); expected a SQLAlchemy URL such as "
            f"{DEFAULT_STORAGE} or postgresql://user:password@host/db"
        ) from None
    try:
        parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"storage URL {mask(url)!r} names an unknown database '{parsed.drivername}'; "
            f"use sqlite:///FILE, postgresql://... or mysql://..."
        ) from None
    except ImportError as e:
        raise StorageError(
            f"storage URL {mask(url)!r} needs a database driver that is not installed ({e}); "
            f"for PostgreSQL: pip install 'hpo[postgres]'"
        ) from None
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise StorageError(
            f"storage URL {url!r} names no database file; write sqlite:///FILE, e.g. "
            f"{DEFAULT_STORAGE}"
        )
    return url


def check_exists(url: str) -> None:
    """For reading a study: a SQLite URL must name a file that is there (not create one)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and not os.path.isfile(parsed.database or ""):
        raise StorageError(f"no SQLite file {parsed.database!r} (from {url!r}); run a study "
                           f"first or pass the --storage it used")


def mask(url: str) -> str:
    """``url`` with any password replaced by ***, for messages, logs and files."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show no part that may be a secret
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str) -> optuna.storages.RDBStorage:
    try:
        return optuna.storages.RDBStorage(url)
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as e:
        raise StorageError(f"cannot open storage {mask(url)!r}: {e}") from None


def find_study_id(storage: optuna.storages.BaseStorage, url: str, study_name: str) -> int:
    """The id of an existing study; StorageError listing the studies there if it is not one."""
    try:
        names = [s.study_name for s in storage.get_all_studies()]
    except Exception as e:  # noqa: BLE001 - any storage failure is a setup error here
        raise StorageError(f"cannot read storage {mask(url)}: {e}") from None
    if study_name not in names:
        raise StorageError(f"no study '{study_name}' in {mask(url)}; studies there: "
                           f"{', '.join(names) or '(none)'}")
    return storage.get_study_id_from_name(study_name)


def load_existing_study(url: str, study_name: str) -> optuna.Study:
    """A stored study, for reading: nothing is created, neither the SQLite file nor the study."""
    check_exists(url)
    storage = open_storage(url)
    find_study_id(storage, url, study_name)
    return optuna.load_study(study_name=study_name, storage=storage)


def open_study(
    url: str, study_name: str, direction: str, identity: dict[str, object]
) -> optuna.Study:
    """Create the study or resume it, refusing one whose trials trained on something else."""
    storage = open_storage(url)
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction=direction, load_if_exists=True
    )
    stored = study.user_attrs
    for key, value in identity.items():
        if key in stored and stored[key] != value:
            if isinstance(value, dict) and isinstance(stored[key], dict):
                changed = sorted(k for k in set(value) | set(stored[key])
                                 if value.get(k) != stored[key].get(k))
                what = f"a different [{key}] (changed: {', '.join(changed)})"
            else:
                what = f"{key} = {stored[key]!r}, but this run has {key} = {value!r}"
            raise StorageError(
                f"study '{study_name}' in {mask(url)} was made with {what}; its trials cannot "
                f"be mixed with this run's. Use another --storage, or delete the study with: "
                f"optuna delete-study --storage {mask(url)} --study-name {study_name}"
            )
    for key, value in identity.items():
        if key not in stored:
            study.set_user_attr(key, value)
    return study


def dashboard_command(url: str) -> str:
    return f"optuna-dashboard {mask(url)}"
