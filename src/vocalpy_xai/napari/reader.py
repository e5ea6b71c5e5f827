"""napari reader contribution: audio files, spectrogram stores and activation stores.

- Audio (``.wav``, ``.flac``, ``.mp3``, ``.ogg``, ``.cbin``, through
  :func:`vocalpy_xai.load_audio`): a lazily computed spectrogram pyramid
  (:class:`~.spectrogram.AudioSpectrogram`) and an annotation Shapes layer: the annotation found
  beside the file (:func:`~.annotation_files.find_annotation`), or its autosave when newer, or
  an empty layer to annotate in.
- A spectrogram store (:func:`vocalpy_xai.open_store`): one clip (default the first; the
  *Clips & prototypes* panel picks others) and its annotation.
- An activation store (:mod:`.activations`): the clip's spectrogram and one Image layer per
  prototype.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np

from ..io.annotations import SegmentTable
from ..io.audio import AUDIO_EXTENSIONS, load_audio
from .activations import activation_layers, is_activation_store, open_activations
from .autosave import load_segments
from .coords import grid_transform
from .segments_layer import ANNOTATION, META_KEY, segments_layer_data
from .spectrogram import AudioSpectrogram, contrast_of, store_clip_pyramid

PathLike = str | os.PathLike


def _kind(path: PathLike) -> str | None:
    p = pathlib.Path(path)
    if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file():
        return "audio"
    if p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists()):
        if is_activation_store(p):
            return "activations"
        import zarr

        try:
            if zarr.open_group(str(p), mode="r").attrs.get("vocalpy_xai_complete"):
                return "store"
        except Exception:
            return None
    return None


def napari_get_reader(path: PathLike | Sequence[PathLike]):
    """The reader of ``path`` (one path or a list), or None when the plugin cannot read it."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if paths and all(_kind(p) for p in paths):
        return read_paths
    return None


def read_paths(path: PathLike | Sequence[PathLike]) -> list[tuple]:
    """LayerData tuples of every path (see the module docstring)."""
    from .viewer import prepare_current_viewer

    prepare_current_viewer()
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[tuple] = []
    for p in paths:
        kind = _kind(p)
        if kind == "audio":
            layers += audio_layers(p)
        elif kind == "store":
            layers += store_layers(p)
        elif kind == "activations":
            layers += activation_store_layers(p)
    return layers


def _spectrogram_kwargs(name: str, transform: dict, contrast, meta: dict, multiscale: bool):
    return {
        "name": name,
        "colormap": "gray",
        "contrast_limits": contrast,
        "multiscale": multiscale,
        **transform,
        "metadata": {META_KEY: {"role": "spectrogram", **meta}},
    }


def annotation_layer(
    audio_path: PathLike | None,
    freq_range_hz: tuple[float, float],
    name: str,
    meta: dict,
    fallback: SegmentTable | None = None,
    restore: bool = True,
) -> tuple:
    """Annotation LayerData for ``audio_path``: its annotation, autosave or ``fallback``."""
    source, found_path, found_format = "none", None, None
    segments = fallback
    if audio_path is not None and pathlib.Path(audio_path).is_file():
        loaded = load_segments(audio_path, meta.get("samplerate"), restore=restore)
        if loaded.segments is not None:
            segments, source = loaded.segments, loaded.source
        if loaded.annotation is not None:
            found_path = str(loaded.annotation.path)
            found_format = loaded.annotation.format
    elif fallback is not None:
        source = "store"
    if source == "autosave":
        _notify(f"{pathlib.Path(audio_path).name}: restored unsaved edits from the autosave")
    meta = {
        **meta,
        "audio_path": str(audio_path) if audio_path else None,
        "annotation_path": found_path,
        "annotation_format": found_format,
        "source": source,
    }
    duration = meta.get("duration_s")
    view = (0.0, float(duration)) if duration else None  # what napari first shows
    return segments_layer_data(segments, freq_range_hz, name, ANNOTATION, meta, view)


def _notify(message: str) -> None:
    try:
        from napari.utils.notifications import show_info

        show_info(message)
    except Exception:  # no napari notification manager: nothing to show
        pass


def audio_layers(path: PathLike, restore: bool = True) -> list[tuple]:
    """Spectrogram (multiscale when long) and annotation layers of an audio file."""
    path = pathlib.Path(path)
    record = load_audio(path, mono=True)
    sr = record.sound.samplerate
    spect = AudioSpectrogram(record.sound.data[0], sr)
    meta = {
        "audio_path": str(path),
        "samplerate": int(sr),
        "duration_s": float(record.duration),
        "source_kind": "audio",
    }
    transform = grid_transform(spect.freqs, spect.times(0))
    if spect.n_levels > 1:
        data = spect.pyramid()
    else:
        data = spect.frames(0, 0, spect.n_frames(0))
    image = (
        data,
        _spectrogram_kwargs(
            path.name, transform, spect.contrast_limits(), meta, spect.n_levels > 1
        ),
        "image",
    )
    freq_range = (float(spect.freqs[0]), float(spect.freqs[-1]))
    shapes = annotation_layer(path, freq_range, f"{path.stem} annotation", meta, restore=restore)
    return [image, shapes]


def store_layers(path: PathLike, clip: int = 0) -> list[tuple]:
    """Spectrogram and annotation layers of clip ``clip`` of a spectrogram store."""
    from ..store.dataset import clip_segments, open_store

    ds = open_store(path)
    if not 0 <= clip < ds.sizes["clip"]:
        raise IndexError(f"clip {clip} out of range: {path} holds {ds.sizes['clip']} clips")
    n = int(ds["n_frames"].values[clip])
    levels = store_clip_pyramid(ds["spectrogram"].isel(clip=clip), n)
    freqs = np.asarray(ds["freq"].values, float)
    transform = grid_transform(freqs, np.asarray(ds["time"].values[:n], float))
    audio = str(ds["source_path"].values[clip])
    meta = {
        "audio_path": audio,
        "samplerate": int(ds.attrs["samplerate"]),
        "duration_s": float(ds["duration_s"].values[clip]),
        "source_kind": "store",
        "store_path": str(path),
        "clip": int(clip),
        "n_clips": int(ds.sizes["clip"]),
    }
    name = pathlib.Path(audio).name
    image = (
        levels if len(levels) > 1 else np.asarray(levels[0]),
        _spectrogram_kwargs(name, transform, contrast_of(levels[-1]), meta, len(levels) > 1),
        "image",
    )
    fallback = None
    if "segment_clip" in ds:
        fallback = clip_segments(ds, clip)
    freq_range = (float(freqs[0]), float(freqs[-1]))
    audio_path = audio if pathlib.Path(audio).is_file() else None
    shapes = annotation_layer(
        audio_path, freq_range, f"{pathlib.Path(audio).stem} annotation", meta, fallback
    )
    return [image, shapes]


def activation_store_layers(path: PathLike, clip: int | str | None = None) -> list[tuple]:
    """Spectrogram and prototype-activation layers of one clip of an activation store."""
    from .activations import clip_index

    ds = open_activations(path)
    c = clip_index(ds, clip)
    freqs = np.asarray(ds["freq"].values, float)
    spect = ds["spectrogram"].isel(clip=c).transpose("freq", "time").values
    if len(freqs) > 1 and freqs[0] > freqs[-1]:
        freqs, spect = freqs[::-1], spect[::-1]
    start = float(ds["clip_start_s"].values[c])
    offset = start if np.isfinite(start) else 0.0  # drawn at its place in the recording
    meta = {
        "audio_path": str(ds["clip_source_path"].values[c]),
        "source_kind": "activations",
        "store_path": str(path),
        "clip": str(ds["clip"].values[c]),
        "clip_start_s": start,
        "n_clips": int(ds.sizes["clip"]),
    }
    times = np.asarray(ds["time"].values, float) + offset
    transform = grid_transform(freqs, times)
    name = f"{ds['clip'].values[c]} spectrogram"
    image = (spect, _spectrogram_kwargs(name, transform, contrast_of(spect), meta, False), "image")
    frame = clip_frame_layer(ds, c, (float(freqs[0]), float(freqs[-1])), times, str(path))
    return [image, *activation_layers(ds, c, time_offset_s=offset), frame]


def clip_frame_layer(ds, c: int, freq_range_hz, times: np.ndarray, store_path: str) -> tuple:
    """A Shapes LayerData framing clip ``c`` (its time span, the whole band) with its name,
    predicted class and best prototype, so that the clip stands out on the whole recording."""
    from .coords import hz_to_world
    from .segments_layer import rectangle

    dt = float(times[1] - times[0]) if len(times) > 1 else 0.0
    t0, t1 = float(times[0]) - dt / 2, float(times[-1]) + dt / 2
    y0, y1 = (float(v) for v in hz_to_world(np.asarray(freq_range_hz)))
    predicted = str(ds["predicted_class"].values[c]) if "predicted_class" in ds else "?"
    note = f"clip {ds['clip'].values[c]}: model says {predicted}"
    return (
        [rectangle(t0, t1, y0, y1)],
        {
            "name": f"clip {ds['clip'].values[c]} frame",
            "shape_type": "rectangle",
            "edge_color": "#ffffff",
            "face_color": "transparent",
            "edge_width": 0.004,
            "features": {"note": [note]},
            "text": {"string": "{note}", "size": 10, "color": "#ffffff", "anchor": "lower_left"},
            "metadata": {
                META_KEY: {
                    "role": "clip_frame",
                    "store_path": store_path,
                    "clip": str(ds["clip"].values[c]),
                    "times": (t0, t1),
                }
            },
        },
        "shapes",
    )
