"""Playing audio snippets (prototype and matched patches) when a sound device exists.

Uses :mod:`sounddevice` when it is installed and finds an output device. Headless machines
have none: :func:`playback_status` says so and :func:`play` returns that message instead of
playing.
"""

from __future__ import annotations

import numpy as np


def playback_status() -> tuple[bool, str]:
    """(available, message): whether audio can be played here, and why not."""
    try:
        import sounddevice
    except Exception:  # not installed, or PortAudio missing
        return False, "no audio playback: the sounddevice package (PortAudio) is not installed"
    try:
        device = sounddevice.query_devices(kind="output")
    except Exception:
        return False, "no sound output device (headless machine): playback unavailable"
    return True, f"playing on {device['name']}"


def play(samples: np.ndarray, samplerate: int) -> str:
    """Play mono ``samples`` (non-blocking) if a device exists; returns a status message."""
    ok, message = playback_status()
    if not ok:
        return message
    import sounddevice

    data = np.asarray(samples, dtype=np.float32)
    peak = float(np.abs(data).max()) if data.size else 0.0
    sounddevice.play(data / peak * 0.9 if peak > 0 else data, int(samplerate))
    return message


def snippet(audio_path: str, t0: float, t1: float) -> tuple[np.ndarray, int]:
    """Mono samples of ``audio_path`` from ``t0`` to ``t1`` s, and the sample rate."""
    from ..io.audio import load_audio

    record = load_audio(audio_path, mono=True)
    sr = record.sound.samplerate
    data = record.sound.data[0]
    return data[max(0, int(t0 * sr)) : max(0, int(t1 * sr))], int(sr)
