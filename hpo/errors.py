"""The one kind of error the CLI shows without a traceback: bad setup, not a bad trial."""

from __future__ import annotations


class HpoError(Exception):
    """Bad setup: a study file, a data file, a storage URL or a flag is wrong.

    The message says what was wrong, what was expected and how to fix it. The CLI prints it
    on one line and exits with code 2, before anything is trained or written to the storage.
    """


class SpecError(HpoError):
    """A study definition (``studies/*.toml`` or a CLI override) is invalid."""


class DataError(HpoError):
    """A data set cannot be found, read or has the wrong shapes."""


class StorageError(HpoError):
    """A storage URL is malformed or the storage cannot be used."""
