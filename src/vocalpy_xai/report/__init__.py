"""Reports: PNG figures and an HTML page that each stage of a run adds sections to."""

from .html import Report, Section
from .plots import (
    label_colors,
    label_counts,
    plot_clip_grid,
    plot_durations,
    plot_label_counts,
    plot_spectrogram,
    save,
)

__all__ = [
    "Report",
    "Section",
    "label_colors",
    "label_counts",
    "plot_clip_grid",
    "plot_durations",
    "plot_label_counts",
    "plot_spectrogram",
    "save",
]
