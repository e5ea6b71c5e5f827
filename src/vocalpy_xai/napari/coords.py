"""The viewer's world frame: time in seconds (horizontal), frequency (vertical, low at the bottom).

napari's camera zooms both axes alike, so world units of Hz and seconds would draw a song as a
sliver thousands of times taller than wide. Time is therefore in seconds and frequency in units of
:data:`HZ_PER_UNIT` Hz (0-16 kHz spans 3.2 units, as tall as 3.2 s of time). The status bar shows
both in plain Hz and seconds (:func:`describe_position`), and the camera's vertical axis points up
so that low frequencies are at the bottom (:func:`orient_viewer`).
"""

from __future__ import annotations

import numpy as np

#: Hz per world unit on the frequency axis
HZ_PER_UNIT: float = 5_000.0
#: napari axis labels of the (frequency, time) world axes
AXIS_LABELS: tuple[str, str] = (f"frequency (x{HZ_PER_UNIT / 1e3:g} kHz)", "time (s)")


def hz_to_world(hz: float | np.ndarray) -> float | np.ndarray:
    """Frequency in Hz to the world's vertical coordinate."""
    return np.asarray(hz, dtype=float) / HZ_PER_UNIT


def world_to_hz(y: float | np.ndarray) -> float | np.ndarray:
    """The world's vertical coordinate to Hz."""
    return np.asarray(y, dtype=float) * HZ_PER_UNIT


def grid_transform(freqs: np.ndarray, times: np.ndarray) -> dict:
    """``scale`` and ``translate`` of an Image whose rows are ``freqs`` and columns ``times``.

    Parameters
    ----------
    freqs : numpy.ndarray
        Frequency (Hz) of each row, ascending and evenly spaced.
    times : numpy.ndarray
        Time (s) of each column (frame centre), evenly spaced.

    Returns
    -------
    transform : dict
        ``{"scale": (dy, dt), "translate": (y0, t0)}``: pixel centres land on their frequency
        and time.
    """
    freqs, times = np.asarray(freqs, float), np.asarray(times, float)
    df = float(freqs[1] - freqs[0]) if len(freqs) > 1 else 1.0
    dt = float(times[1] - times[0]) if len(times) > 1 else 1.0
    return {
        "scale": (df / HZ_PER_UNIT, dt),
        "translate": (float(freqs[0]) / HZ_PER_UNIT, float(times[0])),
    }


def orient_viewer(viewer) -> None:
    """Point the vertical axis up (low frequencies at the bottom) and label the axes."""
    scene = getattr(viewer, "scene", None)
    camera = scene.camera if scene is not None else viewer.camera
    camera.orientation2d = ("up", "right")
    viewer.dims.axis_labels = AXIS_LABELS


def describe_position(y: float, t: float) -> str:
    """``"t = 1.234 s, f = 5.62 kHz"`` for a world position."""
    return f"t = {t:.3f} s, f = {float(world_to_hz(y)) / 1e3:.2f} kHz"
