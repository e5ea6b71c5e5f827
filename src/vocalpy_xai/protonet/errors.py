"""Errors of the prototype networks: inputs that do not fit a model, foreign activation files."""

from __future__ import annotations

from ..errors import ActivationsFormatError, NotFittedError, VocalpyXaiError

__all__ = ["ActivationsFormatError", "NotFittedError", "SpectrogramInputError"]


class SpectrogramInputError(VocalpyXaiError, ValueError):
    """Spectrogram windows that a model cannot use.

    Raised for windows shorter than the model's minimum time extent, a wrong number of
    frequency bins, frequency coordinates (Hz) or a frame step other than the training
    data's (spectrograms at another sample rate or with other parameters), NaN padding,
    and labels or sources that do not match the windows. The message names the problem
    and the expected values.
    """
