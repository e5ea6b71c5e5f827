"""Errors of the model registry."""

from __future__ import annotations

from ..errors import VocalpyXaiError


class RegistryError(VocalpyXaiError, LookupError):
    """An unknown model, version or alias, or a request the registry refuses."""


class IntegrityError(RegistryError):
    """A registered version whose files no longer match their recorded SHA-256.

    Parameters
    ----------
    path : pathlib.Path
        The version folder.
    problems : list of str
        One line per file that is missing, added or changed.
    """

    def __init__(self, path, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        lines = "\n  ".join(self.problems)
        super().__init__(
            f"{path}: integrity check failed, the registered files were modified "
            f"after registration:\n  {lines}"
        )

    def __reduce__(self):
        return (self.__class__, (self.path, self.problems))
