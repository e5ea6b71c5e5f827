"""Time (s) and frequency (kHz) rulers drawn on the canvas, redrawn after every camera move.

One Shapes layer (role ``rulers``, not editable): tick lines under the frequency band with their
times, and at the left edge of the view with their frequencies. Ticks are spaced 1-2-5 to give
about :data:`TIME_TICKS` labels across the canvas. Positions are computed in pixels from the
camera (:mod:`.view` keeps the band fitted to the canvas), so the rulers stay put on screen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .coords import HZ_PER_UNIT
from .segments_layer import META_KEY, plugin_meta

#: name of the rulers layer
RULERS_NAME: str = "rulers (s, kHz)"
#: about this many time labels across the canvas
TIME_TICKS: int = 8
#: tick length and label distance (pixels)
TICK_PX, LABEL_PX = 6.0, 16.0
RULER_COLOR = "#e8e8e8"


def nice_step(span: float, n: int) -> float:
    """A 1-2-5 step giving about ``n`` ticks over ``span``."""
    if span <= 0 or not np.isfinite(span):
        return 1.0
    raw = span / max(n, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)


def _format_time(t: float, step: float) -> str:
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9)))
    return f"{t:.{decimals}f} s"


def ruler_shapes(
    t0: float, t1: float, band: tuple[float, float], px_t: float, px_y: float
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Lines, texts and edge colours of the rulers for the view ``t0``-``t1`` s.

    Parameters
    ----------
    t0, t1 : float
        Visible time range (s).
    band : (float, float)
        The frequency band (data units of :data:`~.coords.HZ_PER_UNIT` Hz).
    px_t, px_y : float
        One canvas pixel in seconds and in frequency data units.
    """
    lines, texts, colors = [], [], []
    lo, hi = band
    step = nice_step(t1 - t0, TIME_TICKS)
    for t in np.arange(np.ceil(t0 / step) * step, t1, step):
        t = float(np.round(t / step) * step)
        lines.append(np.array([[lo, t], [lo - TICK_PX * px_y, t]]))
        texts.append("")
        colors.append(RULER_COLOR)
        y = lo - LABEL_PX * px_y
        lines.append(np.array([[y, t], [y, t + px_t]]))
        texts.append(_format_time(t, step))
        colors.append("transparent")
    khz_lo, khz_hi = lo * HZ_PER_UNIT / 1e3, hi * HZ_PER_UNIT / 1e3
    fstep = nice_step(khz_hi - khz_lo, 10)
    x = t0 + 2 * px_t
    for khz in np.arange(np.ceil(khz_lo / fstep) * fstep, khz_hi + 1e-9, fstep):
        khz = float(np.round(khz / fstep) * fstep) + 0.0  # no "-0"
        y = khz * 1e3 / HZ_PER_UNIT
        lines.append(np.array([[y, x], [y, x + TICK_PX * px_t]]))
        texts.append("")
        colors.append(RULER_COLOR)
        lines.append(np.array([[y, x + 30 * px_t], [y, x + 31 * px_t]]))
        texts.append(f"{khz:g} kHz")
        colors.append("transparent")
    return lines, texts, colors


def rulers_layer(viewer):
    """The viewer's rulers layer (None if there is none yet)."""
    for layer in viewer.layers:
        if plugin_meta(layer).get("role") == "rulers":
            return layer
    return None


def update_rulers(viewer) -> None:
    """Draw (or redraw) the rulers for the current view; nothing without a spectrogram."""
    from .view import camera_of, canvas_size, fit_frequency
    from .viewer import visible_time_range

    fit = fit_frequency(viewer)
    band, view = fit.band(), visible_time_range(viewer)
    if band is None or view is None:
        return
    zoom = camera_of(viewer).zoom
    _, width = canvas_size(viewer)
    px_t, px_y = 1.0 / zoom, 1.0 / (zoom * fit.factor)
    lines, texts, colors = ruler_shapes(view[0], view[1], band, px_t, px_y)
    layer = rulers_layer(viewer)
    features = pd.DataFrame({"tick": texts})
    if layer is None:
        from napari.layers import Shapes

        layer = Shapes(
            lines,
            shape_type="line",
            name=RULERS_NAME,
            edge_color=colors or RULER_COLOR,
            edge_width=1.5 * px_y,
            features=features,
            text={"string": "{tick}", "size": 8, "color": RULER_COLOR, "anchor": "center"},
            metadata={META_KEY: {"role": "rulers"}},
        )
        layer.editable = False
        selection = list(viewer.layers.selection)
        viewer.layers.append(layer)
        viewer.layers.selection.update(selection)
        if selection:
            viewer.layers.selection.active = selection[-1]
        return
    layer.data = [(line, "line") for line in lines]
    layer.features = features
    if colors:
        layer.edge_color = colors
        layer.edge_width = 1.5 * px_y
    top = len(viewer.layers) - 1
    index = viewer.layers.index(layer)
    if index != top:
        viewer.layers.move(index, top + 1)
