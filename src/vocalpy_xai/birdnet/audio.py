"""Cut recordings into BirdNET's 3-s chunks at 48 kHz."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import CHUNK_SAMPLES, SAMPLERATE

__all__ = ["Chunks", "chunk_audio"]


class Chunks(NamedTuple):
    """3-s chunks of a recording and where they start."""

    #: ``(K, 144000)`` float32 chunks at 48 kHz (the last one zero-padded)
    audio: np.ndarray
    #: ``(K,)`` start of each chunk in seconds from the start of the recording; a feature
    #: cell at ``t`` seconds of chunk ``k`` is at ``start_s[k] + t`` seconds
    start_s: np.ndarray


def chunk_audio(
    samples: np.ndarray,
    samplerate: int,
    *,
    overlap_s: float = 0.0,
    min_last_s: float = 0.0,
) -> Chunks:
    """Resample a recording to 48 kHz and cut it into 3-s chunks for BirdNET.

    Parameters
    ----------
    samples : numpy.ndarray
        Audio, ``(n,)`` or ``(n, channels)`` (soundfile's layout; channels are
        averaged). Integer PCM is scaled to [-1, 1].
    samplerate : int
        Sample rate of ``samples`` in Hz; resampled with soxr (high quality) when not
        48 kHz.
    overlap_s : float
        Overlap between consecutive chunks in seconds (0 ≤ overlap < 3); chunks start
        every ``3 - overlap_s`` seconds.
    min_last_s : float
        Drop a final chunk that holds less than this many seconds of audio (birdnetlib
        uses 1.5); default 0 keeps every chunk that holds any audio, zero-padded. A
        recording shorter than this still gives one padded chunk.

    Returns
    -------
    Chunks
        ``audio`` ``(K, 144000)`` float32 and ``start_s`` ``(K,)`` in seconds.

    Raises
    ------
    ValueError
        If the audio is empty or the parameters are out of range.
    """
    x = np.asarray(samples)
    if x.ndim == 2:
        x = (
            x.mean(axis=1)
            if not np.issubdtype(x.dtype, np.integer)
            else x.astype(np.float64).mean(axis=1)
        )
    elif x.ndim != 1:
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {x.shape}")
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        x = x / float(np.iinfo(np.asarray(samples).dtype).max + 1)
    if x.size == 0:
        raise ValueError("empty audio")
    if samplerate <= 0:
        raise ValueError(f"samplerate must be positive, got {samplerate}")
    if not 0.0 <= overlap_s < CHUNK_SAMPLES / SAMPLERATE:
        raise ValueError(f"overlap_s must be in [0, 3), got {overlap_s}")
    x = x.astype(np.float32)
    if samplerate != SAMPLERATE:
        import soxr

        x = soxr.resample(x, samplerate, SAMPLERATE, quality="HQ").astype(np.float32)
    step = int(round((CHUNK_SAMPLES / SAMPLERATE - overlap_s) * SAMPLERATE))
    min_last = int(round(min_last_s * SAMPLERATE))
    starts = []
    pos = 0
    while pos < len(x):
        remaining = len(x) - pos
        if starts and remaining < min_last:
            break
        starts.append(pos)
        if remaining <= CHUNK_SAMPLES:
            break
        pos += step
    chunks = np.zeros((len(starts), CHUNK_SAMPLES), dtype=np.float32)
    for k, s in enumerate(starts):
        seg = x[s : s + CHUNK_SAMPLES]
        chunks[k, : len(seg)] = seg
    return Chunks(chunks, np.asarray(starts, dtype=np.float64) / SAMPLERATE)
