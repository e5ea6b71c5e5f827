"""Model-based segmenter: a trained ESNDecoder as a :class:`vocalpy.Segmenter` callback.

>>> import vocalpy
>>> from vocalpy_xai.segment import ESNSegmenterParams, esn_segment
>>> segmenter = vocalpy.Segmenter(callback=esn_segment,
...                               params=ESNSegmenterParams(model_dir="models/esn-bird0"))
>>> segments = segmenter.segment(vocalpy.Sound.read("song.wav"))  # vocalpy.Segments, labelled
"""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

import vocalpy


@dataclass
class ESNSegmenterParams(vocalpy.Params):
    """Parameters of :func:`esn_segment`.

    Attributes
    ----------
    model_dir : str
        Directory of a trained :class:`~vocalpy_xai.models.ESNDecoder` (``save`` output).
    resample : bool
        Resample sounds at another rate to the model's (True) or refuse them (False).
    """

    model_dir: str = ""
    resample: bool = True


@functools.lru_cache(maxsize=4)
def _load(model_dir: str):
    from ..models import ESNDecoder

    return ESNDecoder.load(model_dir)


def esn_segment(
    sound: vocalpy.Sound, model_dir: str = "", resample: bool = True
) -> vocalpy.Segments:
    """Segment and label a sound with a trained ESNDecoder.

    Parameters
    ----------
    sound : vocalpy.Sound
        Mono or multichannel (channels are averaged).
    model_dir : str
        A saved ESNDecoder directory; loaded once and cached.
    resample : bool
        Bring a sound at another rate to the model's rate (True), or raise.

    Returns
    -------
    segments : vocalpy.Segments
        Onsets and lengths in samples of ``sound``, with the model's labels.
    """
    from ..models.postprocess import to_vocalpy_segments

    if not model_dir:
        raise ValueError("esn_segment needs model_dir, the directory of a trained ESNDecoder")
    model = _load(str(pathlib.Path(model_dir).resolve()))
    segments = model.predict(sound, resample=bool(resample)).segments
    return to_vocalpy_segments(segments, sound)
