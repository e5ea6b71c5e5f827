"""Exceptions raised by vocalpy-xai.

Every error about user data names the file and says what is wrong with it, so that a
person looking at a build over hundreds of recordings knows which one to fix.
"""

from __future__ import annotations

import pathlib


class VocalpyXaiError(Exception):
    """Base class of all errors raised by vocalpy-xai."""


class DataError(VocalpyXaiError, ValueError):
    """A problem with one input file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file at fault.
    problem : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path: str | pathlib.Path, problem: str):
        self.path = pathlib.Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # picklable across dask / multiprocessing workers
        return (self.__class__, (self.path, self.problem))


class AudioError(DataError):
    """Audio that cannot be used: unreadable, empty, truncated, silent, wrong rate."""


class AnnotationError(DataError):
    """An annotation that cannot be used: unreadable, overlapping, out of bounds, unknown labels."""


class ManifestError(DataError):
    """A manifest or clip-label table that is malformed or names missing files."""


class FormatError(VocalpyXaiError, ValueError):
    """An unknown or unsupported format name (annotation format, audio extension)."""


class StoreError(VocalpyXaiError):
    """A spectrogram store that is incomplete, corrupt, or would be overwritten."""


class ActivationsFormatError(StoreError):
    """A file that is not a vocalpy-xai activation dataset, or of an unknown version
    (:mod:`vocalpy_xai.io.activations`)."""


class BuildError(VocalpyXaiError):
    """A store build that found bad input files.

    Parameters
    ----------
    failures : list of DataError
        One error per bad file, each naming the file and its problem.
    stored : int
        How many good files were stored anyway (0 when the build refused to write).
    """

    def __init__(self, failures: list[DataError], stored: int = 0, refused: bool = False):
        self.failures = list(failures)
        self.stored = stored
        self.refused = refused
        lines = [str(err) for err in self.failures]
        if refused:
            head = (
                f"{len(self.failures)} bad input file(s); nothing was written "
                "(on_error='raise'). Fix or remove them, or build with on_error='skip':"
            )
        else:
            head = f"{len(self.failures)} bad input file(s) skipped; {stored} file(s) stored:"
        super().__init__("\n  ".join([head, *lines]))

    def __reduce__(self):
        return (self.__class__, (self.failures, self.stored, self.refused))


class ConfigError(VocalpyXaiError, ValueError):
    """A config file with a syntax error, an unknown table, key or model, a missing key or a
    value of the wrong type or range; the message names the file, the table and the key."""


class ModelFolderError(DataError):
    """A saved model folder that cannot be loaded: missing or corrupt files, a file changed
    since it was saved (SHA-256), wrong shapes, an unknown family or format version."""


class NotFittedError(VocalpyXaiError, RuntimeError):
    """A model used before it was trained (``fit``) or loaded (``load``)."""


class AudioResampledWarning(UserWarning):
    """Audio resampled to the rate a model was trained on (the warning names the file)."""
