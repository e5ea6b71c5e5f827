"""Spectrograms for display: computed lazily, chunk by chunk, as a multiscale pyramid.

A long recording opens at once: nothing is computed until napari asks for the part of the
pyramid it draws. Level ``k`` holds every ``2**k``-th frame (an STFT with hop
``hop_length * 2**k``, computed directly, so a zoomed-out view of ten minutes costs as little
as a few seconds at full resolution). Values are dB of the STFT magnitude
(``20 log10 max(|X|, 1e-5)``, librosa's ``amplitude_to_db`` without its clipping), on the same
frequency grid as :class:`vocalpy_xai.store.SpectrogramParams`.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

import dask.array as da
import numpy as np
import scipy.signal
import xarray as xr

from ..store.params import SpectrogramParams

#: frames per dask chunk (level 0: 4.1 s at hop 64 / 32 kHz)
CHUNK_FRAMES: int = 2048
#: a pyramid grows levels until its coarsest has at most this many frames
MAX_COARSE_FRAMES: int = 4096
#: dB range shown by default under the loudest value
DYNAMIC_RANGE_DB: float = 80.0
#: computed chunks kept in memory (LRU), per spectrogram
CACHE_CHUNKS: int = 48

_AMIN = 1e-5


class AudioSpectrogram:
    """A lazily computed spectrogram pyramid of mono audio.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono audio, float.
    samplerate : int
        Sample rate (Hz).
    params : SpectrogramParams, optional
        ``n_fft``, ``hop_length``, ``fmin``, ``fmax`` (default: 512, 64, everything).

    Attributes
    ----------
    freqs : numpy.ndarray
        Frequency of each row (Hz), ascending.
    n_levels : int
        Levels of the pyramid (1 for a short recording).
    """

    def __init__(
        self, samples: np.ndarray, samplerate: int, params: SpectrogramParams | None = None
    ):
        self.params = params or SpectrogramParams()
        self.samplerate = int(samplerate)
        n_fft = self.params.n_fft
        half = n_fft // 2
        self._padded = np.pad(np.asarray(samples, dtype=np.float32), (half, half))
        self.n_samples = len(samples)
        self._mask = self.params.freq_mask(self.samplerate)
        self.freqs = self.params.frequencies(self.samplerate)
        self._window = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        levels = 1
        while self.n_frames(levels - 1) > MAX_COARSE_FRAMES and levels < 12:
            levels += 1
        self.n_levels = levels

    def hop(self, level: int = 0) -> int:
        """Hop (samples) between the frames of ``level``."""
        return self.params.hop_length * 2**level

    def n_frames(self, level: int = 0) -> int:
        """Frames of ``level`` (frame ``i`` centred on sample ``i * hop(level)``)."""
        return 1 + self.n_samples // self.hop(level)

    def times(self, level: int = 0) -> np.ndarray:
        """Centre (s) of each frame of ``level``."""
        return np.arange(self.n_frames(level)) * self.hop(level) / self.samplerate

    def frames(self, level: int, start: int, stop: int) -> np.ndarray:
        """dB spectrogram (freq, stop - start) of frames ``start:stop`` of ``level``."""
        hop, n_fft = self.hop(level), self.params.n_fft
        stop = min(stop, self.n_frames(level))
        lo = start * hop
        hi = (stop - 1) * hop + n_fft
        block = self._padded[lo:hi]
        if len(block) < hi - lo:
            block = np.pad(block, (0, hi - lo - len(block)))
        windows = np.lib.stride_tricks.sliding_window_view(block, n_fft)[::hop]
        spectrum = np.fft.rfft(windows * self._window, axis=1)[:, self._mask]
        db = 20.0 * np.log10(np.maximum(np.abs(spectrum), _AMIN))
        return np.ascontiguousarray(db.T, dtype=np.float32)

    def _chunk(self, level: int, index: int) -> np.ndarray:
        key = (level, index)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        start = index * CHUNK_FRAMES
        out = self.frames(level, start, start + CHUNK_FRAMES)
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > CACHE_CHUNKS:
                self._cache.popitem(last=False)
        return out

    def level(self, level: int) -> da.Array:
        """Level ``level`` as a lazy dask array (freq, time).

        The graph is written by hand: ``dask.delayed`` would hash the whole recording to
        name every chunk (seconds for ten minutes of audio).
        """
        n, n_freq = self.n_frames(level), len(self.freqs)
        name = f"vocalpy-xai-spectrogram-{uuid.uuid4().hex}-{level}"
        starts = range(0, n, CHUNK_FRAMES)
        graph = {(name, 0, j): (self._chunk, level, j) for j in range(len(starts))}
        widths = tuple(min(CHUNK_FRAMES, n - start) for start in starts)
        return da.Array(graph, name, chunks=((n_freq,), widths), dtype=np.float32)

    def pyramid(self) -> list[da.Array]:
        """Every level, finest first."""
        return [self.level(k) for k in range(self.n_levels)]

    def contrast_limits(self) -> tuple[float, float]:
        """Default display range: :data:`DYNAMIC_RANGE_DB` under the loudest coarse value."""
        coarse = self.frames(self.n_levels - 1, 0, self.n_frames(self.n_levels - 1))
        top = float(np.nanmax(coarse)) if coarse.size else 0.0
        return top - DYNAMIC_RANGE_DB, top


def store_clip_pyramid(spectrogram: xr.DataArray, n_frames: int) -> list[da.Array]:
    """Pyramid of one clip of a store (``(freq, time)`` DataArray): every ``2**k``-th frame."""
    data = spectrogram.data[:, :n_frames]
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(-1, CHUNK_FRAMES))
    levels = [data]
    while levels[-1].shape[1] > MAX_COARSE_FRAMES and len(levels) < 12:
        levels.append(data[:, :: 2 ** len(levels)])
    return levels


def contrast_of(array: np.ndarray | da.Array) -> tuple[float, float]:
    """Display range of a (small) spectrogram: :data:`DYNAMIC_RANGE_DB` under its maximum."""
    top = float(np.nanmax(np.asarray(array)))
    return top - DYNAMIC_RANGE_DB, top
