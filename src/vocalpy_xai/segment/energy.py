"""Adaptive-threshold energy segmenter (draft)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.signal
import vocalpy
from vocalpy.params import Params


@dataclass
class AdaptiveEnergyParams(Params):
    freq_cutoffs: tuple[float, float] = (500.0, 10000.0)
    filter_order: int = 4
    smooth_dur: float = 0.005
    noise_win_dur: float = 3.0
    noise_percentile: float = 10.0
    on_margin_db: float = 12.0
    off_margin_db: float = 6.0
    min_floor_dbfs: float = -100.0
    min_dur: float = 0.02
    min_silent_dur: float = 0.005


def band_energy_db(sound, freq_cutoffs=(500.0, 10000.0), filter_order=4, smooth_dur=0.005):
    data = np.asarray(sound.data, dtype=np.float64)
    sos = scipy.signal.butter(
        filter_order, freq_cutoffs, btype="bandpass", fs=sound.samplerate, output="sos"
    )
    padlen = min(3 * (2 * sos.shape[0] + 1), data.shape[-1] - 1)
    filtered = scipy.signal.sosfiltfilt(sos, data, axis=-1, padlen=padlen)
    power = np.mean(filtered**2, axis=0)
    win = max(1, round(smooth_dur * sound.samplerate))
    power = scipy.ndimage.uniform_filter1d(power, size=win, mode="nearest")
    return 10.0 * np.log10(power + 1e-20)


def noise_floor_db(energy_db, samplerate, noise_win_dur=3.0, noise_percentile=10.0):
    step = max(1, round(samplerate * 0.001))
    env = energy_db[::step]
    n = env.shape[0]
    win = max(1, round(noise_win_dur * samplerate / step))
    if win >= n:
        return np.full(energy_db.shape, np.percentile(env, noise_percentile))
    hop = max(1, win // 8)
    centers = np.arange(0, n, hop)
    starts = np.clip(centers - win // 2, 0, n - win)
    windows = np.lib.stride_tricks.sliding_window_view(env, win)[starts]
    floor_c = np.percentile(windows, noise_percentile, axis=1)
    return np.interp(np.arange(energy_db.shape[0]), centers * step, floor_c)


def adaptive_energy(
    sound,
    freq_cutoffs=(500.0, 10000.0),
    filter_order=4,
    smooth_dur=0.005,
    noise_win_dur=3.0,
    noise_percentile=10.0,
    on_margin_db=12.0,
    off_margin_db=6.0,
    min_floor_dbfs=-100.0,
    min_dur=0.02,
    min_silent_dur=0.005,
):
    sr = sound.samplerate
    energy = band_energy_db(sound, freq_cutoffs, filter_order, smooth_dur)
    floor = np.maximum(noise_floor_db(energy, sr, noise_win_dur, noise_percentile), min_floor_dbfs)
    above_off = energy > floor + off_margin_db
    labels, n = scipy.ndimage.label(above_off)
    keep_ids = np.unique(labels[energy > floor + on_margin_db])
    keep_ids = keep_ids[keep_ids > 0]
    mask = np.isin(labels, keep_ids)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    on, off = edges[0::2], edges[1::2]
    if on.size:
        gaps = on[1:] - off[:-1]
        keep = gaps >= min_silent_dur * sr
        on = np.concatenate((on[:1], on[1:][keep]))
        off = np.concatenate((off[:-1][keep], off[-1:]))
        keep = (off - on) >= min_dur * sr
        on, off = on[keep], off[keep]
    return vocalpy.Segments(
        start_inds=on.astype(np.int64), lengths=(off - on).astype(np.int64), samplerate=sr
    )
