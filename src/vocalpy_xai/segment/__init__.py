"""Segmenters: :class:`vocalpy.Segmenter` callbacks, each with a :class:`vocalpy.Params` beside it.

Like :mod:`vocalpy.segment`, each algorithm is a plain function
``callback(sound, **params) -> vocalpy.Segments`` with a dataclass of its parameters,
so that ``vocalpy.Segmenter(callback=..., params=...)`` runs it over one sound or a list:

>>> import vocalpy
>>> from vocalpy_xai.segment import AdaptiveEnergyParams, adaptive_energy
>>> segmenter = vocalpy.Segmenter(callback=adaptive_energy, params=AdaptiveEnergyParams())

- :mod:`~vocalpy_xai.segment.energy`: :func:`adaptive_energy` /
  :class:`AdaptiveEnergyParams`, band-limited energy thresholded against a running
  noise-floor estimate with hysteresis. It copes with background noise and with
  recordings at any gain, where the fixed threshold of
  :func:`vocalpy.segment.meansquared` does not. :func:`band_energy_db` and
  :func:`noise_floor_db` give the traces it thresholds, for plots that show why a
  segment was found.
- :mod:`~vocalpy_xai.segment.model`: :func:`esn_segment` / :class:`ESNSegmenterParams`,
  a trained ESNDecoder that segments and labels (the model is imported only when used).
"""

from .energy import AdaptiveEnergyParams, adaptive_energy, band_energy_db, noise_floor_db
from .model import ESNSegmenterParams, esn_segment

__all__ = [
    "AdaptiveEnergyParams",
    "ESNSegmenterParams",
    "adaptive_energy",
    "band_energy_db",
    "esn_segment",
    "noise_floor_db",
]
