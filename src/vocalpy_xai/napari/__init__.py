"""napari plugin: review spectrograms, annotations and prototype activations; correct and save.

Registered with napari through the npe2 manifest ``napari.yaml`` (entry point
``vocalpy-xai``): a reader (audio, spectrogram stores, activation stores), a writer
(annotation layers to crowsetta seq formats) and dock widgets (train an ESN annotation model,
predict, disagreement table and review lists, prototypes, save). See docs/napari.md.

Qt is imported only by the widgets; the functions here work on any napari viewer.
"""

from .activations import activation_layers, open_activations, top_prototypes
from .annotation_files import autosave_path, find_annotation, next_version_path
from .autosave import load_segments, write_autosave
from .disagreement import rank_disagreements, review_rows
from .editor import SegmentEditor, attach_editor, editor_of
from .reader import activation_store_layers, audio_layers, napari_get_reader, store_layers
from .registry import register_model
from .spectrogram import AudioSpectrogram
from .view import fit_frequency, highlight_segment, show_time_range
from .viewer import add_layer_data, open_recording, prepare_viewer
from .writer import save_annotation

__all__ = [
    "AudioSpectrogram",
    "SegmentEditor",
    "activation_layers",
    "activation_store_layers",
    "add_layer_data",
    "attach_editor",
    "audio_layers",
    "autosave_path",
    "editor_of",
    "find_annotation",
    "fit_frequency",
    "highlight_segment",
    "load_segments",
    "napari_get_reader",
    "next_version_path",
    "open_activations",
    "open_recording",
    "prepare_viewer",
    "rank_disagreements",
    "register_model",
    "review_rows",
    "save_annotation",
    "show_time_range",
    "store_layers",
    "top_prototypes",
    "write_autosave",
]
