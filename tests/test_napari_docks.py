"""The plugin's five panels fit a 1080-p screen: docked together they become tabs."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")

from qtpy.QtWidgets import QDockWidget


def test_five_docks_are_tabs_and_fit_1080p(make_napari_viewer, qtbot):
    from vocalpy_xai.napari.widgets import (
        DisagreementWidget,
        PredictWidget,
        PrototypeWidget,
        SaveWidget,
        TrainWidget,
    )
    from vocalpy_xai.napari.widgets.common import dock_of

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    panels = [TrainWidget, PredictWidget, DisagreementWidget, PrototypeWidget, SaveWidget]
    widgets = [kind(viewer) for kind in panels]
    for widget in widgets:
        viewer.window.add_dock_widget(widget, name=type(widget).__name__, area="right")
    docks = [dock_of(widget) for widget in widgets]
    assert all(isinstance(d, QDockWidget) for d in docks)
    qtbot.waitUntil(lambda: len(window.tabifiedDockWidgets(docks[0])) == len(panels) - 1)
    # one tab group: the window needs the tallest panel, not the sum of five
    assert window.minimumSizeHint().height() <= 1080 - 60  # a 1080-p screen less a task bar
    heights = [d.minimumSizeHint().height() for d in docks]
    assert window.minimumSizeHint().height() < sum(heights)
    print("window min height", window.minimumSizeHint().height(), "panels", heights)
