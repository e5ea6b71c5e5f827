"""BirdNET's 3-s audio chunks of the clips of a clip-labelled store (labels, sources).

The unit of an AudioProtoNet on a BirdNET backbone: chunks of 48-kHz audio, read from each
clip's ``source_path`` and cut by :func:`vocalpy_xai.birdnet.chunk_audio`, labelled with
the clip's class. They come as :class:`~vocalpy_xai.clips.Windows` whose ``X`` is
``(N, 144000)`` audio (``freq_hz`` empty, ``frame_s`` the chunk step).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .windows import Windows, _check_clips

#: chunk overlap of training chunks by default: a 3-s chunk every second
TRAIN_OVERLAP_S = 2.0


def birdnet_chunks(
    store_ds: xr.Dataset,
    clip_indices: Sequence[int] | np.ndarray,
    overlap_s: float = 0.0,
    labels: Sequence[str] | None = None,
) -> Windows:
    """3-s chunks at 48 kHz of labelled clips, for a BirdNET-backbone AudioProtoNet.

    Parameters
    ----------
    store_ds : xarray.Dataset
        A store of clip-labelled audio (it must have ``clip_class``), e.g. from
        :func:`~vocalpy_xai.clips.build_species_store`; the audio is read from the clips'
        ``source_path``.
    clip_indices : sequence of int
        Clips to cut.
    overlap_s : float
        Overlap of consecutive chunks (0: birdnetlib's chunking, a last chunk of at least
        1.5 s zero-padded; > 0: full chunks only, e.g. :data:`TRAIN_OVERLAP_S` for training).
    labels : sequence of str, optional
        Class names in class order (a trained model's); default the store's classes.

    Returns
    -------
    Windows
        ``X`` float32 ``(N, 144000)``; ``y``; ``sources`` (``clip``, ``source_path``,
        ``start_s``); ``meta`` ``clip`` (index), ``start_s``, ``label``.

    Raises
    ------
    ValueError
        The store has no clip labels, a clip has none, or its label is not in ``labels``.
    """
    from ..birdnet import chunk_audio
    from ..io.audio import load_audio

    if "clip_class" not in store_ds:
        raise ValueError(
            "a BirdNET backbone classifies 3-s chunks of clip-labelled recordings, and this "
            "store has no clip labels (clip_class); build it from a label table "
            "(vocalpy_xai.clips.build_species_store)"
        )
    clips = _check_clips(store_ds, clip_indices)
    store_names = [str(c) for c in store_ds["clip_class_name"].values]
    names = list(labels) if labels is not None else store_names
    class_of = store_ds["clip_class"].values
    paths = [str(p) for p in store_ds["source_path"].values]
    xs, ys, sources, meta_clip, meta_label = [], [], [], [], []
    for c in clips:
        if class_of[c] < 0:
            raise ValueError(f"{paths[c]}: clip {c} has no label in the store")
        label = store_names[class_of[c]]
        if label not in names:
            raise ValueError(f"{paths[c]}: label {label!r} is not one of the model's {names}")
        record = load_audio(paths[c], mono=True)
        chunks = chunk_audio(
            record.sound.data[0],
            record.sound.samplerate,
            overlap_s=overlap_s,
            min_last_s=3.0 if overlap_s > 0 else 1.5,
        )
        xs.append(chunks.audio)
        ys += [names.index(label)] * len(chunks.audio)
        meta_clip += [int(c)] * len(chunks.audio)
        meta_label += [label] * len(chunks.audio)
        sources += [
            {"clip": int(c), "source_path": paths[c], "start_s": float(s)} for s in chunks.start_s
        ]
    return Windows(
        X=np.concatenate(xs) if xs else np.zeros((0, 144_000), np.float32),
        y=np.asarray(ys, dtype=np.int64),
        class_names=names,
        freq_hz=np.zeros(0),
        frame_s=3.0 - overlap_s,
        sources=sources,
        meta={
            "clip": np.asarray(meta_clip),
            "start_s": np.asarray([s["start_s"] for s in sources]),
            "label": np.asarray(meta_label, dtype=object),
        },
    )
