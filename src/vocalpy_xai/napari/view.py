"""The spectrogram view: zoom and pan in time only, every frequency always on screen.

napari's camera zooms both axes alike, so a fixed frequency scale shows all of 0-16 kHz only
when several seconds of song are on screen, and a strip of mid frequencies at 1 s. Here the
*vertical* scale of every layer follows the camera instead: after each zoom (and canvas resize)
:class:`FrequencyFit` rescales the frequency axis of all layers (``layer.scale`` and
``layer.translate`` of axis -2, by one common factor) so that the frequency band fills
:data:`BAND_SHARE` of the canvas height, and keeps the camera's vertical centre on the band
(panning moves in time only). Layer *data* are untouched: shapes stay in data units (frequency
in units of :data:`~.coords.HZ_PER_UNIT` Hz), so editing, saving and the readers do not change;
only world coordinates of the frequency axis change (use :func:`world_y` / :func:`data_y`).

The status bar of every layer reads ``t = 2.031 s  f = 4.31 kHz  -53.2 dB`` (the value of the
spectrogram under the cursor; :func:`status_text`), whichever layer is active.
"""

from __future__ import annotations

import types
import weakref

import numpy as np

from .coords import HZ_PER_UNIT

#: share of the canvas height the frequency band fills (the rest: room for labels and rulers)
BAND_SHARE: float = 0.82
#: vertical position of the band's centre above the canvas centre (share of the height): the
#: band sits a little high, leaving room for the time ruler at the bottom
BAND_RAISE: float = 0.02

_FITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` in napari >= 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def canvas_size(viewer) -> tuple[float, float]:
    """(height, width) of the canvas in pixels."""
    size = getattr(getattr(viewer, "canvas", None), "size", None)
    if size is None:
        size = viewer.window._qt_viewer.canvas.size
    return float(size[0]), float(size[1])


class FrequencyFit:
    """Keeps the frequency band of a viewer's layers fitted to the canvas height.

    Attach with :func:`fit_frequency` (idempotent). Every layer's unfitted ``scale`` and
    ``translate`` are kept (:attr:`base`); the frequency axis of each is multiplied by
    :attr:`factor`, recomputed on camera zoom and canvas resize.
    """

    def __init__(self, viewer):
        self._viewer = weakref.ref(viewer)
        self.factor = 1.0
        self.base: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._busy = False
        for layer in viewer.layers:
            self.register(layer)
        viewer.layers.events.inserted.connect(self._on_inserted)
        camera = camera_of(viewer)
        camera.events.zoom.connect(self._on_zoom)
        camera.events.center.connect(self._on_center)
        canvas = getattr(viewer, "canvas", None)
        if canvas is not None and hasattr(canvas, "events"):
            canvas.events.size.connect(self._on_zoom)
        self.fit()

    @property
    def viewer(self):
        return self._viewer()

    def register(self, layer) -> None:
        """Record ``layer``'s unfitted transform and give it the current factor."""
        if layer in self.base or len(layer.scale) < 2:
            return
        self.base[layer] = (np.array(layer.scale, float), np.array(layer.translate, float))
        self._apply(layer, self.factor)

    def _on_inserted(self, event) -> None:
        self.register(event.value)
        self.fit()

    def band(self) -> tuple[float, float] | None:
        """The frequency band (data units) of the spectrogram and activation layers, or of all
        layers when there are none."""
        from .segments_layer import plugin_meta

        viewer = self.viewer
        if viewer is None:
            return None
        lows, highs = [], []
        for layer in self.base:
            if layer not in viewer.layers:
                continue
            role = plugin_meta(layer).get("role")
            if role not in ("spectrogram", "activation"):
                continue
            scale, translate = self.base[layer]
            rows = np.asarray(layer.level_shapes[0] if layer.multiscale else layer.data.shape)
            half = scale[-2] / 2
            lows.append(translate[-2] - half)
            highs.append(translate[-2] + (rows[-2] - 1) * scale[-2] + half)
        if not lows:
            for layer in self.base:
                if layer in viewer.layers and plugin_meta(layer).get("freq_span"):
                    y0, y1 = plugin_meta(layer)["freq_span"]
                    lows.append(min(y0, y1))
                    highs.append(max(y0, y1))
        if not lows:
            return None
        return float(min(lows)), float(max(highs))

    def _apply(self, layer, factor: float) -> bool:
        scale, translate = self.base[layer]
        scale, translate = scale.copy(), translate.copy()
        scale[-2] *= factor
        translate[-2] *= factor
        if not np.allclose(layer.scale, scale) or not np.allclose(layer.translate, translate):
            layer.scale = scale
            layer.translate = translate
            return True
        return False

    def target_factor(self) -> float | None:
        """The factor that makes the band :data:`BAND_SHARE` of the canvas height."""
        viewer, band = self.viewer, self.band()
        if viewer is None or band is None or band[1] <= band[0]:
            return None
        height, _ = canvas_size(viewer)
        zoom = camera_of(viewer).zoom
        if height <= 0 or zoom <= 0:
            return None
        return BAND_SHARE * height / zoom / (band[1] - band[0])

    def centre_y(self) -> float | None:
        """World vertical centre of the camera that places the band (slightly raised)."""
        viewer, band = self.viewer, self.band()
        if viewer is None or band is None:
            return None
        height, _ = canvas_size(viewer)
        raise_world = BAND_RAISE * height / camera_of(viewer).zoom
        return (band[0] + band[1]) / 2 * self.factor - raise_world

    def fit(self) -> None:
        """Rescale every layer's frequency axis to the canvas and centre the band."""
        if self._busy:
            return
        factor = self.target_factor()
        if factor is None:
            return
        self._busy = True
        try:
            self.factor = factor
            viewer = self.viewer
            # napari recomputes the dims of all layers after each scale or translate event
            # (tens of ms each): silence that for the rescale and do it once at the end
            update = getattr(viewer, "_on_layers_change", None)
            changed = False
            for layer in list(self.base):
                if layer not in viewer.layers:
                    continue
                if update is None:
                    self._apply(layer, factor)
                    continue
                with layer.events.scale.blocker(update), layer.events.translate.blocker(update):
                    changed = self._apply(layer, factor) or changed
            if changed and update is not None:
                update()
            self._centre()
        finally:
            self._busy = False

    def _centre(self) -> None:
        y = self.centre_y()
        camera = camera_of(self.viewer)
        centre = list(camera.center)
        if y is not None and not np.isclose(centre[-2], y, rtol=0, atol=1e-9 + abs(y) * 1e-9):
            centre[-2] = y
            camera.center = tuple(centre)

    def _on_zoom(self, event=None) -> None:
        self.fit()

    def _on_center(self, event=None) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            self._centre()
        finally:
            self._busy = False

    def world_y(self, y_data: float) -> float:
        """World vertical coordinate of a data frequency coordinate."""
        return float(y_data) * self.factor

    def data_y(self, y_world: float) -> float:
        """Data frequency coordinate (units of HZ_PER_UNIT Hz) of a world one."""
        return float(y_world) / self.factor


def fit_frequency(viewer) -> FrequencyFit:
    """The viewer's :class:`FrequencyFit`, attached now if needed."""
    fit = _FITS.get(viewer)
    if fit is None:
        fit = FrequencyFit(viewer)
        _FITS[viewer] = fit
    return fit


def frequency_factor(viewer) -> float:
    """The current frequency factor of ``viewer`` (1 before :func:`fit_frequency`)."""
    fit = _FITS.get(viewer)
    return fit.factor if fit is not None else 1.0


def show_time_range(viewer, t0: float, t1: float) -> None:
    """Zoom and pan the view to the time range ``t0``-``t1`` s (every frequency stays in view)."""
    camera = camera_of(viewer)
    _, width = canvas_size(viewer)
    camera.zoom = width / max(float(t1) - float(t0), 1e-6)
    centre = list(camera.center)
    centre[-1] = (float(t0) + float(t1)) / 2
    camera.center = tuple(centre)
    fit = _FITS.get(viewer)
    if fit is not None:
        fit.fit()


def hz_at(viewer, y_world: float) -> float:
    """Frequency (Hz) at a world vertical coordinate."""
    return float(y_world) / frequency_factor(viewer) * HZ_PER_UNIT


def status_text(viewer, position) -> str:
    """``t = 2.031 s  f = 4.31 kHz  -53.2 dB`` at a world ``position`` (dB of the topmost
    visible spectrogram there; without one, time and frequency only)."""
    from .segments_layer import plugin_meta

    pos = np.asarray(position, float)
    if len(pos) < 2:
        return ""
    t, hz = float(pos[-1]), hz_at(viewer, pos[-2])
    text = f"t = {t:.3f} s   f = {hz / 1e3:.2f} kHz"
    for layer in list(viewer.layers)[::-1]:
        role = plugin_meta(layer).get("role")
        if role != "spectrogram" or not layer.visible:
            continue
        try:
            value = layer.get_value(pos, world=True)
        except Exception:  # outside the layer or not sliced yet
            continue
        if isinstance(value, tuple):  # multiscale: (level, value)
            value = value[1]
        if value is not None and np.isfinite(value):
            text += f"   {float(value):.1f} dB"
            break
    for layer in list(viewer.layers)[::-1]:
        meta = plugin_meta(layer)
        if meta.get("role") not in ("annotation", "predictions") or not layer.visible:
            continue
        features = layer.features
        if not len(features):
            continue
        inside = (features["onset_s"] <= t) & (features["offset_s"] >= t)
        if inside.any():
            row = features[inside].iloc[0]
            who = "model" if meta["role"] == "predictions" else "label"
            text += f"   {who} {row['label']} ({row['onset_s']:.3f}-{row['offset_s']:.3f} s)"
    return text


def _status(layer, position=None, *args, **kwargs):
    """A layer's napari status with the coordinates in s / kHz / dB (:func:`status_text`)."""
    status = type(layer).get_status(layer, position, *args, **kwargs)
    viewer = _VIEWER_OF.get(layer)
    viewer = viewer() if viewer is not None else None
    if viewer is None or position is None:
        return status
    text = status_text(viewer, position)
    if isinstance(status, dict):
        status = dict(status)
        status["coordinates"] = text
        status["coords"] = text
        status["value"] = ""
        return status
    return text


_VIEWER_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def readable_status(viewer, layer) -> None:
    """Make ``layer``'s status-bar text :func:`status_text` (time, kHz, dB, label)."""
    _VIEWER_OF[layer] = weakref.ref(viewer)
    layer.get_status = types.MethodType(_status, layer)


#: name of the layer that highlights the segment a review jump went to
HIGHLIGHT_NAME: str = "review highlight"
HIGHLIGHT_COLOR = "#ff2bd6"
#: edge width of the highlight on screen (pixels)
HIGHLIGHT_EDGE_PX: float = 3.0


def highlight_segment(viewer, t0: float, t1: float, text: str = ""):
    """Frame the segment ``t0``-``t1`` s over the whole band in a bright colour (one layer,
    role ``highlight``, replaced at each call); returns the layer."""
    from napari.layers import Shapes

    from .segments_layer import META_KEY, plugin_meta, rectangle

    band = fit_frequency(viewer).band() or (0.0, 1.0)
    pad = 0.012 * (band[1] - band[0])
    edge = HIGHLIGHT_EDGE_PX / camera_of(viewer).zoom
    box = rectangle(float(t0), float(t1), band[0] - pad, band[1] + pad)
    layer = next((la for la in viewer.layers if plugin_meta(la).get("role") == "highlight"), None)
    features = {"note": [text]}
    if layer is None:
        selection = viewer.layers.selection.active
        layer = Shapes(
            [box],
            shape_type="rectangle",
            name=HIGHLIGHT_NAME,
            edge_color=HIGHLIGHT_COLOR,
            face_color="#ff2bd61f",
            edge_width=edge,
            features=features,
            text={"string": "{note}", "size": 10, "color": HIGHLIGHT_COLOR, "anchor": "lower_left"},
            metadata={META_KEY: {"role": "highlight", "times": (float(t0), float(t1))}},
        )
        layer.editable = False
        viewer.layers.append(layer)
        if selection is not None:
            viewer.layers.selection.active = selection
    else:
        layer.data = [(box, "rectangle")]
        layer.features = features
        layer.edge_width = edge
        plugin_meta(layer)["times"] = (float(t0), float(t1))
    layer.visible = True
    return layer
