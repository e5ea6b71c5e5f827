"""ESNDecoder: an echo state network that labels every frame of a song (canapy's approach).

Trouvain & Hinaut (ICANN 2021, "Canary song decoder"): a reservoir (reservoirpy
:class:`~reservoirpy.nodes.Reservoir`) reads spectral features frame by frame; a ridge
readout (:class:`~reservoirpy.nodes.Ridge`, closed form) maps the reservoir state and the
input to one score per class, plus an onset score used to split touching syllables
(:mod:`vocalpy_xai.models.postprocess`). Training is one pass over the data and a linear
solve: seconds on a CPU.

The readout is accumulated song by song with :meth:`Ridge.worker` / :meth:`Ridge.master`
(the same closed form as ``Ridge.fit``), so memory does not grow with the training set.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import pathlib
import time
from collections.abc import Iterator, Sequence

import attrs
import numpy as np
import scipy.sparse
import threadpoolctl
import vocalpy
import xarray as xr

from ..errors import ModelFolderError, NotFittedError
from ..io.annotations import SegmentTable
from ..store.params import SpectrogramParams
from .boundaries import BoundaryParams, BoundaryRefiner, EdgeContext
from .features import BandFeatures, DbBandSpectrogram
from .folder import check_shape, load_arrays, open_model_folder, save_model_folder
from .postprocess import PostprocessParams, frames_to_segments
from .prediction import AnnotationPrediction, scores_to_probabilities
from .reservoir_engine import INFERENCE_DTYPE, WARMUP_FRAMES, ReservoirEngine
from .sources import open_source, spectrogram_of_audio

#: files of a saved model directory
CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE = "config.json", "weights.npz", "metrics.json"
FORMAT_VERSION = 1
#: :meth:`ESNDecoder.annotate` reads recordings longer than this (s) block by block
STREAM_ABOVE_S = 120.0
#: seconds of audio per block when streaming
BLOCK_S = 60.0
#: model frames (8 ms) of recordings whose reservoir runs share the engine's batch in
#: :meth:`ESNDecoder.annotate_many` (about 9 min of audio; memory: the features, 8 bytes x
#: 96 a frame, 50 MB): enough runs for the slots to be filled evenly (on Bird0 TEST, 1.3x
#: less CPU than groups of 16k frames)
GROUP_FRAMES = 1 << 16
#: the same in training, which holds the group's states (8 bytes x 3 x units a frame)
TRAIN_GROUP_FRAMES = 1 << 15
#: threads reading files (decoding, spectrogram, bands) in :meth:`ESNDecoder.annotate_many`
READ_THREADS = 2
#: files read ahead of the reservoir in :meth:`ESNDecoder.annotate_many`
READ_AHEAD = 8


@attrs.define(frozen=True)
class ESNParams:
    """Hyper-parameters of the reservoir and its readout.

    Parameters
    ----------
    units : int
        Reservoir size.
    leak_rate : float
        Leaking rate (0-1]: smaller is slower, longer memory.
    spectral_radius : float
        Spectral radius of the recurrent weights.
    input_scaling : float
        Scale of the input weights.
    rc_connectivity, input_connectivity : float
        Density of the recurrent and input weight matrices.
    ridge : float
        L2 regularisation of the readout.
    onset_weight : float
        Scale of the onset target relative to the class targets.
    bidirectional : bool
        Also run the reservoir backwards in time and read out both states: a frame's
        label then depends on what follows it too (offline annotation; when streaming,
        the backward pass runs within each chunk).
    seed : int
        Seed of the random weights: same seed, same model.
    """

    units: int = 400
    leak_rate: float = 0.3
    spectral_radius: float = 0.9
    input_scaling: float = 0.3
    rc_connectivity: float = 0.1
    input_connectivity: float = 0.2
    ridge: float = 1e-4
    onset_weight: float = 1.0
    bidirectional: bool = True
    seed: int = 0


class ESNDecoder:
    """Frame-by-frame syllable labelling with an echo state network.

    Parameters
    ----------
    params : ESNParams, optional
        Reservoir and readout hyper-parameters.
    features : BandFeatures, optional
        Input features (bands, time pooling, deltas).
    postprocess : PostprocessParams, optional
        How frame predictions become segments.
    boundaries : BoundaryParams or False, optional
        The learnt correction of segment edges at the spectrogram's 2-ms resolution
        (:mod:`vocalpy_xai.models.boundaries`), fitted with the readout; default
        ``BoundaryParams()``. False: edges stay on the model's frame grid (models saved
        before it existed load this way).

    Attributes
    ----------
    class_names_ : list of str
        Classes, ``background`` first (from the training store).
    pipeline_ : dict
        The spectrogram pipeline of the training data (store parameters, or vak's);
        new audio goes through the same one.
    training_ : dict
        Training-data description: store path, clips, data hash, time.

    Examples
    --------
    >>> model = ESNDecoder().fit("bird0.zarr", clips=train_idx)
    >>> segments = model.annotate("song.wav")
    >>> model.save("models/esn-bird0")
    """

    def __init__(
        self,
        params: ESNParams | None = None,
        features: BandFeatures | None = None,
        postprocess: PostprocessParams | None = None,
        boundaries: BoundaryParams | bool | None = None,
    ):
        self.params = params or ESNParams()
        self.features = features or BandFeatures()
        self.postprocess = postprocess or PostprocessParams()
        if boundaries is None or boundaries is True:
            boundaries = BoundaryParams()
        self.boundaries = boundaries or None
        self.reservoir_ = None
        self.readout_ = None
        self.refiner_: BoundaryRefiner | None = None

    # ------------------------------------------------------------------ building blocks
    def _make_reservoir(self, W=None, Win=None, bias=None):
        from reservoirpy.nodes import Reservoir

        p = self.params
        kwargs = {}
        if W is not None:
            kwargs = {"W": W, "Win": Win, "bias": bias}
        return Reservoir(
            units=p.units,
            lr=p.leak_rate,
            sr=p.spectral_radius,
            input_scaling=p.input_scaling,
            rc_connectivity=p.rc_connectivity,
            input_connectivity=p.input_connectivity,
            seed=p.seed,
            **kwargs,
        )

    @property
    def engine_(self) -> ReservoirEngine:
        """The batched inference engine of the reservoir (same weights; built once)."""
        cached = getattr(self, "_engine", None)
        if cached is None or cached[0] is not self.reservoir_:
            cached = (self.reservoir_, ReservoirEngine.from_reservoir(self.reservoir_))
            self._engine = cached
        return cached[1]

    def _states(self, x: np.ndarray) -> np.ndarray:
        """Reservoir states (forward, backward) concatenated with the input, from rest.

        Computed by :attr:`engine_`; equal to :meth:`_states_reservoirpy` up to
        floating-point noise (tested).
        """
        states = self.engine_.states(x, bidirectional=self.params.bidirectional)
        return np.hstack([states, x])

    def _states_reservoirpy(self, x: np.ndarray, reset: bool = True) -> np.ndarray:
        """The reference: the same states stepped by reservoirpy's ``Reservoir.run``.

        ``reset=True`` starts from rest; False continues from the last state.
        """
        res = self.reservoir_
        if reset and res.initialized:
            res.reset()
        parts = [res.run(x)]
        if self.params.bidirectional:
            forward_state = {k: np.copy(v) for k, v in res.state.items()}
            res.reset()
            parts.append(res.run(x[::-1])[::-1])
            res.state = forward_state  # a stream continues from the forward state
        return np.hstack([*parts, x])

    @property
    def frame_s_(self) -> float:
        """Seconds from one model frame to the next (``stride`` spectrogram frames)."""
        return self.frame_step_ * self.features.stride

    @property
    def frame_dur_(self) -> float:
        """Deprecated name of :attr:`frame_s_`."""
        import warnings

        warnings.warn("ESNDecoder.frame_dur_ is now frame_s_", DeprecationWarning, stacklevel=2)
        return self.frame_s_

    @property
    def spect_params_(self) -> SpectrogramParams:
        """Spectrogram parameters of a model trained on a store."""
        if self.pipeline_["kind"] != "store":
            raise ValueError("this model was trained on a vak dataset (vak's spectrograms)")
        return SpectrogramParams.from_dict(self.pipeline_["spect_params"])

    def _targets(self, labels: np.ndarray, onsets_s: np.ndarray, n: int) -> np.ndarray:
        k = len(self.class_names_)
        y = np.zeros((n, k + 1))
        y[np.arange(n), labels[:n]] = 1.0
        idx = np.round((onsets_s - self.time_offset_) / self.frame_s_).astype(int)
        for d in (-1, 0, 1):
            ok = (idx + d >= 0) & (idx + d < n)
            y[idx[ok] + d, k] = self.params.onset_weight
        return y

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: str | os.PathLike | xr.Dataset,
        clips: Sequence[int] | np.ndarray | None = None,
        progress: bool = True,
        split: str | None = None,
    ) -> ESNDecoder:
        """Train on annotated clips of a spectrogram store or of a vak-prepped dataset.

        Parameters
        ----------
        data : path or xarray.Dataset
            A store with frame labels (:func:`vocalpy_xai.store.build_store`), or the
            folder of a vak frame-classification dataset (``vak prep``).
        clips : sequence of int, optional
            Training clips (e.g. a split); default: all (of ``split``).
        progress : bool
            Show a progress bar.
        split : str, optional
            For a vak dataset: use the files of this split (e.g. ``"train"``).
        """
        from reservoirpy.nodes import Ridge
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        source = open_source(data, split)
        clips = np.arange(source.n_clips) if clips is None else np.asarray(clips, dtype=int)
        self.class_names_ = list(source.class_names)
        self.pipeline_ = source.pipeline
        self.samplerate_ = int(source.samplerate)
        self.frame_step_ = float(source.frame_step)
        self.time_offset_ = float(source.time_offset)
        freqs = source.freqs

        self.features.fit((source.spectrogram(c) for c in clips), freqs)
        self.reservoir_ = self._make_reservoir()
        self.reservoir_.initialize(np.zeros((1, self.features.n_features)))
        readout = Ridge(ridge=self.params.ridge)
        parts = []
        bar = tqdm(total=len(clips), desc="ESN states", unit="song", disable=not progress)
        group: list[tuple[np.ndarray, np.ndarray]] = []
        kept = []  # (features, envelope, clip) of each song, for the boundary refiner

        def flush():
            # the group's songs share the engine's batch, each run whole from rest
            xs = [x for x, _ in group]
            for states, (x, y) in zip(
                self.engine_.states_many(xs, self.params.bidirectional), group, strict=True
            ):
                states = np.hstack([states, x])
                if readout.input_dim is None:
                    readout.initialize(states, y)
                parts.append(readout.worker(states, y))  # X'X and X'Y of this song
                bar.update()
            group.clear()

        for c in clips:
            spect = source.spectrogram(c)
            bands = self.features.bands(spect, freqs)
            x = self.features.from_bands(bands)
            if self.boundaries is not None:
                kept.append((x, self.features.envelope(spect, freqs), c))
            n = len(x)
            labels = source.frame_labels(c)[:: self.features.stride][:n]
            group.append((x, self._targets(labels, source.onsets_s(c), n)))
            if sum(len(x) for x, _ in group) >= TRAIN_GROUP_FRAMES:
                flush()
        flush()
        bar.close()
        readout.master(iter(parts))  # the closed-form ridge solution
        self.readout_ = readout
        self.refiner_ = None
        if self.boundaries is not None:
            self.refiner_ = self._fit_refiner(source, kept)
        self.training_ = {
            "data": source.description,
            "data_kind": source.kind,
            "clips": [int(c) for c in clips],
            "data_sha256": source.data_hash(clips),
            "n_frames": int(sum(source.n_frames(c) for c in clips)),
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return self

    def _fit_refiner(self, source, kept: list) -> BoundaryRefiner:
        """The boundary refiner, fitted on the model's own segments of the training songs."""
        scores = []
        for lo in range(0, len(kept), 64):  # songs' reservoir runs batched, as in annotation
            scores += self._scores_many([x for x, _, _ in kept[lo : lo + 64]])
        songs = []
        for s, (_, envelope, c) in zip(scores, kept, strict=True):
            k = len(self.class_names_)
            pred = self._segments(s[:, :k].argmax(1), s[:, k])
            edges = (source.onsets_s(c), source.offsets_s(c))
            songs.append((pred, *edges, self._edge_context(s, envelope)))
        return BoundaryRefiner.fit(songs, self.boundaries)

    def _edge_context(self, scores: np.ndarray, envelope: np.ndarray) -> EdgeContext:
        """What the boundary refiner reads of a recording (envelope per spectrogram frame)."""
        return EdgeContext.of(
            envelope, scores, self.frame_step_, self.frame_s_, self.time_offset_, self.boundaries
        )

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if self.readout_ is None:
            raise NotFittedError("this ESNDecoder is not trained: call fit() or load()")

    def predict_scores(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Readout scores (model frames, classes + 1 onset column) of one spectrogram."""
        self._check_fitted()
        return self._scores_of_bands(self.features.bands(spectrogram, freqs))

    def predict_frames(
        self, spectrogram: np.ndarray, freqs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class index and onset score of every model frame (of :meth:`predict`)."""
        result = self.predict(spectrogram, freqs)
        return result.frame_labels, result.onset_scores

    def segments_from_spectrogram(self, spectrogram: np.ndarray, freqs: np.ndarray) -> SegmentTable:
        """Annotated segments of one (freq, time) spectrogram (of :meth:`predict`)."""
        return self.predict(spectrogram, freqs).segments

    def _segments(self, labels: np.ndarray, onsets: np.ndarray) -> SegmentTable:
        """Segments of frame predictions, in seconds of the input (frame 0 at ``time_offset_``)."""
        seg = frames_to_segments(labels, onsets, self.frame_s_, self.class_names_, self.postprocess)
        if self.time_offset_:
            seg = attrs.evolve(
                seg,
                onsets_s=seg.onsets_s + self.time_offset_,
                offsets_s=seg.offsets_s + self.time_offset_,
            )
        return seg

    def predict(
        self,
        data: str | os.PathLike | vocalpy.Sound | np.ndarray,
        freqs: np.ndarray | None = None,
        resample: bool | str = "down",
        block_s: float | None = None,
    ) -> AnnotationPrediction:
        """Annotate a recording: segments and frame probabilities. The one inference path.

        Parameters
        ----------
        data : path, vocalpy.Sound or numpy.ndarray
            An audio file (how it is read: :meth:`annotate`; long files block by block), a
            :class:`vocalpy.Sound` (channels averaged; resampled to the model's rate by
            ``resample``), or a (freq, time) dB spectrogram made with the model's
            spectrogram parameters (e.g. a store clip, :class:`~vocalpy_xai.store.ClipReader`).
        freqs : numpy.ndarray, optional
            Frequencies (Hz) of the spectrogram's rows; needed for a spectrogram only.
        resample : bool or "down"
            Sample-rate policy for audio (:func:`~vocalpy_xai.io.audio.check_samplerate`).
        block_s : float, optional
            Seconds read at a time from an audio file (default: see :meth:`annotate`).

        Returns
        -------
        AnnotationPrediction
            Segments, frame labels, probabilities (:func:`scores_to_probabilities` of the
            readout) and onset scores; model frame ``i`` at ``time_offset_ + i * frame_s_``
            (:func:`vocalpy_xai.store.frame_times`).
        """
        from ..io.audio import check_samplerate

        self._check_fitted()
        if isinstance(data, str | os.PathLike):
            scores, envelope = self._audio_scores(data, resample, block_s)
        elif isinstance(data, vocalpy.Sound):
            sound = np.asarray(data.data, dtype=np.float32).mean(axis=0)
            where = getattr(data, "path", None) or "<vocalpy.Sound>"
            if check_samplerate(where, data.samplerate, self.samplerate_, resample, warn=True):
                import librosa

                sound = librosa.resample(
                    sound, orig_sr=data.samplerate, target_sr=self.samplerate_, res_type="soxr_hq"
                )
            spect, f = spectrogram_of_audio(self.pipeline_, sound, self.samplerate_)
            scores, envelope = self.predict_scores(spect, f), self.features.envelope(spect, f)
        else:
            if freqs is None:
                raise ValueError("predict() on a spectrogram needs freqs, its frequencies (Hz)")
            scores = self.predict_scores(np.asarray(data), freqs)
            envelope = self.features.envelope(np.asarray(data), freqs)
        return self._prediction(scores, envelope)

    def _prediction(
        self, scores: np.ndarray, envelope: np.ndarray | None = None
    ) -> AnnotationPrediction:
        """The :class:`AnnotationPrediction` of readout scores (frames, classes + onset).

        ``envelope``: the recording's energy envelope per spectrogram frame
        (:meth:`BandFeatures.envelope`), read by the boundary refiner (:attr:`refiner_`,
        if the model has one) to move each segment edge off the model's frame grid.
        """
        k = len(self.class_names_)
        labels = scores[:, :k].argmax(1)
        segments = self._segments(labels, scores[:, k])
        if self.refiner_ is not None and envelope is not None:
            segments = self.refiner_.refine(segments, self._edge_context(scores, envelope))
        return AnnotationPrediction(
            segments=segments,
            frame_labels=labels,
            probabilities=scores_to_probabilities(scores[:, :k]),
            class_names=list(self.class_names_),
            frame_s=self.frame_s_,
            time_offset=self.time_offset_,
            onset_scores=scores[:, k],
        )

    def annotate(
        self,
        audio_path: str | os.PathLike,
        resample: bool | str = "down",
        block_s: float | None = None,
    ) -> SegmentTable:
        """Annotate an audio file: load, spectrogram (the training store's parameters), segments.

        Files soundfile reads (WAV, FLAC, MP3, OGG) at the model's sample rate go one
        way, whatever their length: band energies block by block (``block_s`` seconds,
        default: the whole file up to :data:`STREAM_ABOVE_S`, else :data:`BLOCK_S`), the
        reservoir run span by span with warm-up context (:meth:`_scores_of_bands`),
        segments; memory stays bounded (86 MB of band energies an hour plus a span's
        states), and the result equals the whole-file spectrogram and one reservoirpy
        run up to floating-point noise (tested). Other files (another sample rate,
        evTAF ``.cbin``) and models trained on vak datasets are loaded whole
        (:func:`~vocalpy_xai.io.load_audio`).

        Audio at another sample rate than the model's is, by ``resample``: ``"down"``
        (default) resampled if higher, refused if lower (the band the model learnt from
        is missing); True: resampled either way; False: refused. Resampling warns
        (:class:`~vocalpy_xai.errors.AudioResampledWarning`). Audio shorter than one model
        frame is refused. Refusals are :class:`~vocalpy_xai.errors.AudioError` naming the file.

        The segments of :meth:`predict`, which also gives frame probabilities.
        """
        return self.predict(audio_path, resample=resample, block_s=block_s).segments

    def _audio_scores(
        self,
        audio_path: str | os.PathLike,
        resample: bool | str = "down",
        block_s: float | None = None,
    ) -> np.ndarray:
        """Readout scores and energy envelope of an audio file (:meth:`annotate`)."""
        from ..io.audio import load_audio

        self._check_fitted()
        plan = self._read_plan(audio_path, block_s)
        if plan is not None:
            return self._block_scores(audio_path, plan[0])
        record = load_audio(
            audio_path,
            samplerate=self.samplerate_,
            mono=True,
            resample=resample,
            min_samples=self.min_samples_,
            warn_resample=True,
        )
        spect, freqs = spectrogram_of_audio(self.pipeline_, record.sound.data[0], self.samplerate_)
        return self.predict_scores(spect, freqs), self.features.envelope(spect, freqs)

    def _read_plan(
        self, audio_path: str | os.PathLike, block_s: float | None = None
    ) -> tuple[float, bool] | None:
        """How :meth:`annotate` reads a file: (block seconds, whole file in one block).

        None: not a file soundfile reads at the model's rate (or a model trained on a vak
        dataset): :func:`~vocalpy_xai.io.load_audio` loads it whole.
        """
        import soundfile

        if self.pipeline_["kind"] != "store":
            return None
        try:
            info = soundfile.info(str(audio_path))
        except Exception:
            return None  # not for soundfile: load_audio reads it (or names the problem)
        if info.samplerate != self.samplerate_ or info.frames < (self.min_samples_ or 1):
            return None
        duration = info.frames / info.samplerate
        if block_s is None:
            block_s = duration + 1.0 if duration <= STREAM_ABOVE_S else BLOCK_S
        return block_s, block_s > duration

    def annotate_many(
        self, audio_paths: Sequence[str | os.PathLike], resample: bool | str = "down"
    ) -> list[SegmentTable]:
        """The segments of :meth:`predict_many`: annotate a folder's files the fast way."""
        return [p.segments for p in self.predict_many(audio_paths, resample=resample)]

    def predict_many(
        self, audio_paths: Sequence[str | os.PathLike], resample: bool | str = "down"
    ) -> list[AnnotationPrediction]:
        """:meth:`predict` of many audio files, short ones batched together.

        Files that :meth:`annotate` reads whole (at the model's rate, up to
        :data:`STREAM_ABOVE_S`) are read one by one into band energies, then
        :data:`GROUP_FRAMES` frames' worth of them go through the reservoir together
        (:meth:`ReservoirEngine.scores_many
        <vocalpy_xai.models.reservoir_engine.ReservoirEngine.scores_many>`): each file run
        whole from rest forwards and backwards, the runs of all files sharing the batch,
        no warm-up and no states kept. The result equals :meth:`annotate` of each file up
        to floating-point noise (``annotate`` runs one file in chunks with a warm-up; this
        runs each whole, as reservoirpy does). Other files go through :meth:`annotate`.

        Parameters
        ----------
        audio_paths : sequence of path
        resample : bool or str
            As :meth:`annotate`.

        Returns
        -------
        list of AnnotationPrediction
            One per file, in order. A file that cannot be annotated raises
            :class:`~vocalpy_xai.errors.AudioError` naming it (as :meth:`annotate`).
        """
        out: list[AnnotationPrediction | None] = [None] * len(audio_paths)
        for i, prediction in self.iter_predict_many(audio_paths, resample):
            out[i] = prediction
        return out

    def iter_predict_many(
        self,
        audio_paths: Sequence[str | os.PathLike],
        resample: bool | str = "down",
        errors: str = "raise",
        sha256: dict[int, str] | None = None,
    ) -> Iterator[tuple[int, AnnotationPrediction | Exception]]:
        """:meth:`predict_many`, each file's prediction yielded as soon as it is made.

        Yields ``(index in audio_paths, prediction)``, not necessarily in order: a group
        of short files comes out when its reservoir run ends, while the next files are
        already being read, so a caller can write annotations meanwhile
        (:func:`vocalpy_xai.batch.write_predictions`).

        Parameters
        ----------
        audio_paths : sequence of path
        resample : bool or str
            As :meth:`annotate`.
        errors : {"raise", "return"}
            A file that cannot be read or annotated: raise its error (as
            :meth:`predict_many`), or yield ``(index, the error)`` and go on with the
            other files (a batch that lists its bad files at the end).
        sha256 : dict, optional
            Filled with ``{index: SHA-256 of the file}`` (a resumable batch's record of
            what it annotated): for a file read whole (at the model's rate, up to
            :data:`STREAM_ABOVE_S`), the digest of the very bytes decoded, read once
            (:func:`~vocalpy_xai.io.audio.read_hashed`); for the others (streamed,
            resampled), of the file read just before it is decoded.
        """
        from ..errors import AudioError
        from ..io.audio import read_hashed, sha256_file

        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', not {errors!r}")
        self._check_fitted()
        paths = [pathlib.Path(p) for p in audio_paths]
        pending: list[tuple[int, np.ndarray, np.ndarray]] = []

        def flush():
            scores = self._scores_many([x for _, x, _ in pending])
            done = [(i, envelope) for i, _, envelope in pending]
            pending.clear()
            for (i, envelope), s in zip(done, scores, strict=True):
                # the caller writes it while the next is made
                yield i, self._prediction(s, envelope)

        def read(i: int) -> tuple[np.ndarray, np.ndarray] | None:
            plan = self._read_plan(paths[i])
            if plan is None or not plan[1]:
                if sha256 is not None:
                    sha256[i] = sha256_file(paths[i])
                return None
            data = None
            if sha256 is not None:
                data, sha256[i] = read_hashed(paths[i])
            bands, envelope = self._recording_bands(paths[i], plan[0], data)
            if len(bands) == 0:
                raise AudioError(paths[i], "too short to annotate")
            return self.features.from_bands(bands), envelope  # features on the reading threads

        # files are read two at a time (decoding and FFTs release the GIL), in order, at
        # most READ_AHEAD ahead of the reservoir (bounded memory for any number of files);
        # the threads are the parallelism: BLAS's own threads only contend with them
        with (
            threadpoolctl.threadpool_limits(1, user_api="blas"),
            concurrent.futures.ThreadPoolExecutor(READ_THREADS) as pool,
        ):
            ahead: collections.deque = collections.deque()
            for i in range(len(paths)):
                while len(ahead) < READ_AHEAD and i + len(ahead) < len(paths):
                    ahead.append(pool.submit(read, i + len(ahead)))
                try:
                    read_out = ahead.popleft().result()
                    if read_out is None:
                        yield i, self.predict(paths[i], resample=resample)
                        continue
                except Exception as err:
                    if errors == "raise":
                        raise
                    yield i, err
                    continue
                pending.append((i, *read_out))
                if sum(len(x) for _, x, _ in pending) >= GROUP_FRAMES:
                    yield from flush()
            yield from flush()

    def _scores_many(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Readout scores of several recordings' features, each run whole (exact)."""
        w_out = self.readout_.Wout  # rows: the states, then the inputs
        n_states = w_out.shape[0] - self.features.n_features
        parts = self.engine_.scores_many(
            xs, w_out[:n_states], self.params.bidirectional, dtype=INFERENCE_DTYPE
        )
        return [
            p + x @ w_out[n_states:] + self.readout_.bias for p, x in zip(parts, xs, strict=True)
        ]

    @property
    def min_samples_(self) -> int | None:
        """Fewest audio samples (model rate) that make one model frame (None: vak's pipeline)."""
        if self.pipeline_.get("kind") != "store":
            return None
        p = self.spect_params_
        return p.n_fft + p.hop_length * self.features.stride

    def annotate_stream(self, audio_path: str | os.PathLike, chunk_s: float = 30.0) -> SegmentTable:
        """Annotate a recording block by block (``chunk_s`` seconds), in bounded memory.

        :meth:`annotate` with ``block_s=chunk_s``: the file must be at the model's sample
        rate (WAV, FLAC, MP3, OGG).
        """
        import soundfile

        from ..errors import AudioError
        from ..io.audio import check_length

        self._check_fitted()
        path = pathlib.Path(audio_path)
        try:
            info = soundfile.info(str(path))
        except Exception as err:
            raise AudioError(path, f"cannot decode audio: corrupt or not audio ({err})") from err
        if info.samplerate != self.samplerate_:
            raise AudioError(
                path,
                f"sample rate is {info.samplerate} Hz, expected {self.samplerate_} Hz "
                "(streaming needs the model's rate; annotate() resamples)",
            )
        check_length(path, info.frames, info.samplerate, self.min_samples_ or 1)
        return self.predict(path, block_s=chunk_s).segments

    def _recording_bands(
        self, path: pathlib.Path, block_s: float, data: bytes | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Band energies (time, band), float32, of a recording read ``block_s`` s at a time,
        and its energy envelope (spectrogram frames,) for the boundary refiner.

        Equal to ``features.bands`` of the whole-file spectrogram up to float32 rounding
        (:class:`~vocalpy_xai.models.features.DbBandSpectrogram`): each block is read with
        half an FFT window of context (its frames are the whole-file frames), and
        librosa's 80-dB floor, which the whole-file spectrogram takes from the file's
        loudest bin, is the loudest bin so far; a block computed under a lower floor than
        the file's final one is computed again. The bands take 4 bytes x bands per 8-ms
        frame (86 MB an hour), a 64th of the audio. With several blocks, the FFTs of the
        next :data:`READ_THREADS` blocks run on threads while this one is pooled into bands.
        ``data``: the file's bytes, already read (decoded from memory; errors name ``path``).
        """
        import io

        import soundfile

        from ..errors import AudioError

        params = self.spect_params_
        spec = DbBandSpectrogram(self.features, params.n_fft, params.hop_length, self.samplerate_)
        hop, half = params.hop_length, params.n_fft // 2
        per_block = max(1, int(round(block_s * self.samplerate_ / hop / self.features.stride)))
        per_block *= self.features.stride  # spectrogram frames per block

        with soundfile.SoundFile(str(path) if data is None else io.BytesIO(data)) as f:
            total = f.frames
            n_frames = 1 + total // hop  # librosa.stft, centred

            def audio_of(first: int) -> np.ndarray:
                last = min(n_frames, first + per_block)
                lo, hi = first * hop - half, (last - 1) * hop + half
                f.seek(max(0, lo))
                audio = f.read(min(hi, total) - max(0, lo), dtype="float32", always_2d=True)
                audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
                if not np.isfinite(audio).all():
                    raise AudioError(path, "contains NaN or infinite samples")
                return np.pad(audio, (max(0, -lo), max(0, hi - total)))

            def power(first: int) -> np.ndarray:
                return spec.power(audio_of(first))

            firsts = list(range(0, n_frames, per_block))
            bands, envelopes, floors = [], [], []
            peak = np.float32(-np.inf)
            threads = READ_THREADS if len(firsts) > 1 else 0  # one block: no threads
            with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
                # the file is read here, in order; FFTs of the next blocks on the threads
                ahead: collections.deque = collections.deque()
                for k in range(len(firsts)):
                    while len(ahead) < threads and k + len(ahead) < len(firsts):
                        block = audio_of(firsts[k + len(ahead)])
                        ahead.append(pool.submit(spec.power, block))
                    pw = ahead.popleft().result() if threads else power(firsts[k])
                    peak = max(peak, spec.peak_db(pw))
                    floors.append(peak - np.float32(spec.TOP_DB))
                    bands.append(spec.bands(pw, floors[-1]))
                    envelopes.append(spec.envelope(pw, floors[-1]))
            final = peak - np.float32(spec.TOP_DB)
            for i, first in enumerate(firsts):
                if floors[i] < final:  # the file got louder after this block
                    pw = power(first)
                    bands[i], envelopes[i] = spec.bands(pw, final), spec.envelope(pw, final)
        if not bands:
            return np.empty((0, self.features.n_bands), np.float32), np.empty(0, np.float32)
        return np.concatenate(bands), np.concatenate(envelopes)

    def _scores_of_bands(self, bands: np.ndarray, span: int = 8192) -> np.ndarray:
        """Readout scores (frames, classes + 1) of band energies, ``span`` frames at a time.

        Each span is computed with :data:`WARMUP_FRAMES` (+1 for the deltas) frames of
        context on each side, so the result equals one run over the whole recording up
        to floating-point noise; the read-out is computed inside the reservoir's steps
        (:meth:`ReservoirEngine.scores
        <vocalpy_xai.models.reservoir_engine.ReservoirEngine.scores>`), so no states are kept.
        """
        n = len(bands)
        ctx = WARMUP_FRAMES + 1
        w_out = self.readout_.Wout  # rows: the states, then the inputs
        n_states = w_out.shape[0] - self.features.n_features
        out = np.empty((n, w_out.shape[1]))
        for lo in range(0, n, span):
            hi = min(n, lo + span)
            a, b = max(0, lo - ctx), min(n, hi + ctx)
            x = self.features.from_bands(bands[a:b])
            out[lo:hi] = self.engine_.scores(
                x,
                w_out[:n_states],
                self.params.bidirectional,
                lo=lo - a,
                hi=hi - a,
                dtype=INFERENCE_DTYPE,
            )  # the read-out inside the compiled step: no states kept
            out[lo:hi] += x[lo - a : hi - a] @ w_out[n_states:]
        out += self.readout_.bias
        return out

    def _block_scores(
        self, audio_path: str | os.PathLike, block_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Readout scores and envelope of a recording streamed in blocks: bands, then span by
        span."""
        from ..errors import AudioError

        path = pathlib.Path(audio_path)
        with threadpoolctl.threadpool_limits(1, user_api="blas"):  # small products: 1 thread
            bands, envelope = self._recording_bands(path, block_s)
            if len(bands) == 0:
                raise AudioError(path, "too short to annotate")
            return self._scores_of_bands(bands), envelope

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> pathlib.Path:
        """Save a self-contained model directory, atomically; never overwrites.

        Holds ``config.json`` (hyper-parameters, classes, spectrogram parameters,
        feature statistics, training-data hash), ``weights.npz`` (reservoir and readout
        weights, no pickle), ``metrics.json`` and ``checksums.json`` (the SHA-256 of each
        file, checked by :meth:`load`; :mod:`vocalpy_xai.models.folder`).
        """
        self._check_fitted()
        res = self.reservoir_
        W = scipy.sparse.csr_array(res.W)
        Win = scipy.sparse.csr_array(res.Win)
        arrays = {
            "W_data": W.data,
            "W_indices": W.indices,
            "W_indptr": W.indptr,
            "W_shape": W.shape,
            "Win_data": Win.data,
            "Win_indices": Win.indices,
            "Win_indptr": Win.indptr,
            "Win_shape": Win.shape,
            "bias": np.asarray(res.bias, dtype=np.float64),
            "Wout": self.readout_.Wout,
            "readout_bias": self.readout_.bias,
        }
        if self.refiner_ is not None:
            arrays["boundary_w_onset"] = self.refiner_.w_onset
            arrays["boundary_w_offset"] = self.refiner_.w_offset
        config = {
            "params": attrs.asdict(self.params),
            "features": self.features.to_dict(),
            "postprocess": attrs.asdict(self.postprocess),
            "class_names": self.class_names_,
            "pipeline": self.pipeline_,
            "samplerate": self.samplerate_,
            "frame_step": self.frame_step_,
            "time_offset": self.time_offset_,
            "training": self.training_,
            "boundaries": None if self.refiner_ is None else self.refiner_.to_dict(),
        }
        return save_model_folder(
            path,
            "ESNDecoder",
            FORMAT_VERSION,
            config,
            {WEIGHTS_FILE: lambda p: np.savez(p, **arrays)},
            metrics,
        )

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> ESNDecoder:
        """Load a model directory written by :meth:`save`, after checking it.

        Every file is checked against the SHA-256 recorded at save time (``verify``), the
        config's keys and the weights' shapes against the hyper-parameters; any problem is
        a :class:`~vocalpy_xai.errors.ModelFolderError` naming the file.
        """
        from reservoirpy.nodes import Ridge

        path = pathlib.Path(path)
        config = open_model_folder(path, "ESNDecoder", FORMAT_VERSION, _CONFIG_KEYS, verify)
        cfg_file = path / CONFIG_FILE
        try:
            boundaries = config.get("boundaries")  # absent: saved before the refiner existed
            boundaries = BoundaryParams.from_dict(boundaries) if boundaries else False
            model = cls(
                ESNParams(**config["params"]),
                BandFeatures.from_dict(config["features"]),
                PostprocessParams(**config["postprocess"]),
                boundaries,
            )
            classes = [str(c) for c in config["class_names"]]
            samplerate, frame_step = int(config["samplerate"]), float(config["frame_step"])
            time_offset = float(config["time_offset"])
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise ModelFolderError(cfg_file, f"invalid model parameters ({err})") from err
        units, k = model.params.units, len(classes)
        n_in = model.features.n_bands * (2 if model.features.deltas else 1)
        n_states = units * (2 if model.params.bidirectional else 1) + n_in
        w_file = path / WEIGHTS_FILE
        w = load_arrays(
            w_file,
            {
                "W_shape": (2,),
                "W_indptr": (units + 1,),
                "Win_shape": (2,),
                "Win_indptr": (units + 1,),
                "W_data": (None,),
                "W_indices": (None,),
                "Win_data": (None,),
                "Win_indices": (None,),
                "bias": None,
                "Wout": (n_states, k + 1),
                "readout_bias": None,
            },
        )
        check_shape(w_file, "W", tuple(w["W_shape"]), (units, units))
        check_shape(w_file, "Win", tuple(w["Win_shape"]), (units, n_in))
        if w["readout_bias"].size != k + 1 or w["bias"].size not in (1, units):
            raise ModelFolderError(
                w_file,
                f"bias sizes {w['bias'].size}, {w['readout_bias'].size} do not fit the model",
            )
        try:
            W = scipy.sparse.csr_array(
                (w["W_data"], w["W_indices"], w["W_indptr"]), shape=(units, units)
            )
            Win = scipy.sparse.csr_array(
                (w["Win_data"], w["Win_indices"], w["Win_indptr"]), shape=(units, n_in)
            )
            W.check_format(full_check=True)
            Win.check_format(full_check=True)
        except (ValueError, TypeError) as err:
            raise ModelFolderError(w_file, f"corrupt sparse weights ({err})") from err
        model.readout_ = Ridge(ridge=model.params.ridge, Wout=w["Wout"], bias=w["readout_bias"])
        model.reservoir_ = model._make_reservoir(W=W, Win=Win, bias=w["bias"])
        model.reservoir_.initialize(np.zeros((1, n_in)))
        if boundaries:
            n_edge = BoundaryRefiner.n_features(boundaries)
            for name in ("boundary_w_onset", "boundary_w_offset"):
                if name not in w:
                    raise ModelFolderError(w_file, f"no array '{name}' (config has boundaries)")
                check_shape(w_file, name, w[name].shape, (n_edge,))
            model.refiner_ = BoundaryRefiner(
                boundaries, w["boundary_w_onset"], w["boundary_w_offset"]
            )
        model.class_names_ = classes
        model.pipeline_ = config["pipeline"]
        model.samplerate_ = samplerate
        model.frame_step_ = frame_step
        model.time_offset_ = time_offset
        model.training_ = config["training"]
        return model


#: config.json keys a saved ESNDecoder needs
_CONFIG_KEYS = (
    "params",
    "features",
    "postprocess",
    "class_names",
    "pipeline",
    "samplerate",
    "frame_step",
    "time_offset",
    "training",
)
