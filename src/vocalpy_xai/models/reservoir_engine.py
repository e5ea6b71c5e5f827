"""Fast inference for a trained reservoir: reservoirpy's update, many sequences per step.

A :class:`reservoirpy.nodes.Reservoir` steps one time frame at a time in Python (about
90 µs a step for 400 units). :class:`ReservoirEngine` computes the same update,

    x[t] = (1 - lr) * x[t-1] + lr * tanh(W @ x[t-1] + Win @ u[t] + bias),   x[-1] = 0,

with the same weights (``W``, ``Win``, ``bias`` of the trained reservoir), for a batch of
sequences at once: the input part ``Win @ u[t] + bias`` is a matrix product per block
of :data:`DRIVE_BLOCK` steps of a thread's slots (BLAS on one thread: the engine's
threads are the parallelism); each step then does the sparse recurrent product for the whole batch in a
compiled loop (numba, the batch contiguous in memory so that it vectorises), ``tanh``
with numpy's vectorised ufunc, and the leak. Runs (a sequence forwards or backwards in
time, or a chunk of one) are laid end to end in :data:`BATCH_PER_THREAD` *slots* a
thread (:func:`pack_runs`; a slot is reset to rest where a run starts), and two threads
step their slots at the same time (the compiled loops and numpy release the GIL).

Two ways to fill the slots:

* :meth:`ReservoirEngine.states_many` / :meth:`~ReservoirEngine.scores_many`: many
  recordings, each run whole from rest forwards and backwards -- exactly reservoirpy's
  arithmetic, no warm-up; the recordings fill the batch together (annotating a folder,
  training).
* :meth:`ReservoirEngine.states`: one recording cut into chunks of ``chunk`` frames; a
  chunk's forward run starts ``warmup`` frames before the chunk from rest (or at the
  first frame of the recording, from rest, exactly as reservoirpy), and its backward run
  starts ``warmup`` frames after it. The states differ from one uninterrupted run only
  by the memory of what came before the warm-up, which the reservoir forgets
  geometrically (echo state property): with the default 400-unit model the difference
  after 256 frames is below 1e-9 (measured in ``docs/annotation.md``), far under any
  decision the readout makes. ``warmup=None`` runs each direction in one piece (exact).
  Used for a single recording and for long recordings read span by span.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numba
import numpy as np
import scipy.sparse
import threadpoolctl

#: warm-up of every chunk, in model frames (8 ms each by default)
WARMUP_FRAMES = 200
#: sequences each thread steps together: the sparse product costs about the same per step
#: for 1 to ~16 of them (index loads dominate), so short recordings are cut into more,
#: shorter chunks rather than stepped one long chunk at a time
BATCH_PER_THREAD = 16
#: steps whose input part is computed together (per thread: slots x steps x units doubles)
DRIVE_BLOCK = 64
#: chunk length bounds, in model frames
MIN_CHUNK, MAX_CHUNK = 64, 1024
#: dtype of the reservoir when annotating (:meth:`ReservoirEngine.astype`): float32 steps
#: cost about 0.65x the CPU of float64 here (twice the slots per vector instruction, half the
#: memory traffic); the read-out scores move by ~3e-7 (of scores of order 1), which
#: changed no frame's label on Bird0 TEST (``benchmarks/bench_esn.py``). Training keeps
#: float64 (reservoirpy's arithmetic).
INFERENCE_DTYPE = np.float32


@numba.njit(nogil=True, cache=True)
def _pre_activation(
    k, kd, idx, start, drive, w_data, w_indices, w_indptr, state, pre
):  # pragma: no cover
    """``pre[:, b] = drive[b, kd] + W @ state[:, b]`` (0 where ``idx[b, k]`` is -1: padding).

    ``drive`` holds the input part of a block of steps of every slot (``kd``: the step in
    the block). A slot whose run starts at step ``k`` (``start[b, k]``) is reset to rest.
    """
    n, batch = state.shape
    for b in range(batch):
        if start[b, k]:
            for i in range(n):
                state[i, b] = 0.0
        if idx[b, k] >= 0:
            for i in range(n):
                pre[i, b] = drive[b, kd, i]
        else:
            for i in range(n):
                pre[i, b] = 0.0
    for i in range(n):
        # four weights of the row at a time: four independent products per slot, added
        # in pairs, instead of a chain of dependent additions to pre[i, b] (the engine
        # took 1.2-1.25x less CPU on Bird0 TEST, float64 and float32 alike)
        p, end = w_indptr[i], w_indptr[i + 1]
        while p + 4 <= end:
            w0, w1, w2, w3 = w_data[p], w_data[p + 1], w_data[p + 2], w_data[p + 3]
            j0, j1, j2, j3 = w_indices[p], w_indices[p + 1], w_indices[p + 2], w_indices[p + 3]
            for b in range(batch):
                pre[i, b] += (w0 * state[j0, b] + w1 * state[j1, b]) + (
                    w2 * state[j2, b] + w3 * state[j3, b]
                )
            p += 4
        while p < end:
            w, j = w_data[p], w_indices[p]
            for b in range(batch):
                pre[i, b] += w * state[j, b]
            p += 1


@numba.njit(nogil=True, cache=True, inline="always")
def _leak(lr, act, state):  # pragma: no cover
    """``state = (1 - lr) * state + lr * act`` (the leaky integration of one step)."""
    n, batch = state.shape
    keep = 1.0 - lr
    for i in range(n):
        for b in range(batch):
            state[i, b] = keep * state[i, b] + lr * act[i, b]


@numba.njit(nogil=True, cache=True)
def _leak_and_store(k, lr, act, state, out_idx, out_col, states):  # pragma: no cover
    """``state = (1 - lr) * state + lr * act``; copy each slot's state to its output row."""
    n, batch = state.shape
    _leak(lr, act, state)
    for b in range(batch):
        r = out_idx[b, k]
        if r >= 0:
            c = out_col[b, k] * n
            for i in range(n):
                states[r, c + i] = state[i, b]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _leak_and_read(k, lr, act, state, out_idx, out_col, w_t, scores, v):  # pragma: no cover
    """``state = (1 - lr) * state + lr * act``; each slot's read-out to its output row.

    ``scores[d, r] = state @ w_t[d].T`` for the slot's direction ``d`` (``out_col``) and
    output row ``r``: the states themselves are never stored. ``w_t`` is (directions,
    outputs, units); ``v`` a buffer of ``units``. The dot products may be reassociated
    (vectorised): equal to the stored states times the read-out to ~1e-15.
    """
    n, batch = state.shape
    m = w_t.shape[1]
    _leak(lr, act, state)
    for b in range(batch):
        r = out_idx[b, k]
        if r >= 0:
            d = out_col[b, k]
            for i in range(n):
                v[i] = state[i, b]
            for c in range(m):
                acc = 0.0
                for i in range(n):
                    acc += v[i] * w_t[d, c, i]
                scores[d, r, c] = acc


def pack_runs(runs: list[tuple[np.ndarray, np.ndarray, int]], slots: int):
    """Lay runs end to end in ``slots`` batch slots of similar length (longest first).

    ``runs``: (input frame of each step, output row it fills or -1, direction: 0 forwards,
    1 backwards). Returns ``idx``, ``out_idx``, ``out_col`` and ``start`` (slots, steps): the
    input row, output row and direction of every step of every slot (-1: padding after the slot's last
    run) and whether a run starts there (the slot is reset to rest).
    """
    order = sorted(range(len(runs)), key=lambda r: -len(runs[r][0]))
    slots = max(1, min(slots, len(runs)))
    loads = [0] * slots
    members: list[list[int]] = [[] for _ in range(slots)]
    for r in order:  # each run to the least loaded slot
        b = loads.index(min(loads))
        members[b].append(r)
        loads[b] += len(runs[r][0])
    steps = max(loads)
    idx = np.full((slots, steps), -1, dtype=np.int64)
    out_idx = np.full((slots, steps), -1, dtype=np.int64)
    out_col = np.zeros((slots, steps), dtype=np.int64)
    start = np.zeros((slots, steps), dtype=np.bool_)
    for b, rs in enumerate(members):
        t = 0
        for r in rs:
            frames, outs, col = runs[r]
            idx[b, t : t + len(frames)] = frames
            out_idx[b, t : t + len(frames)] = outs
            out_col[b, t : t + len(frames)] = col
            start[b, t] = True
            t += len(frames)
    return idx, out_idx, out_col, start


def chunk_plan(
    n: int, lo: int, hi: int, chunk: int, warmup: int | None, backward: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Runs that cover output frames ``[lo, hi)`` of a sequence of ``n`` frames.

    Returns, for every run, the input frame of each step and the output frame it fills
    (-1 during warm-up). Forward runs start ``warmup`` frames before their chunk (or at
    frame 0); backward runs go from ``warmup`` frames after their chunk (or frame n - 1)
    down to its first frame. ``warmup=None``: one run over ``[0, n)``.
    """
    if hi <= lo:
        return []
    if warmup is None:
        frames = np.arange(n)
        runs = [(frames, np.where((frames >= lo) & (frames < hi), frames, -1))]
        return [(f[::-1], o[::-1]) for f, o in runs] if backward else runs
    runs = []
    for a in range(lo, hi, chunk):
        b = min(hi, a + chunk)
        if backward:
            frames = np.arange(min(n, b + warmup) - 1, a - 1, -1)
        else:
            frames = np.arange(max(0, a - warmup), b)
        runs.append((frames, np.where(frames >= a if not backward else frames < b, frames, -1)))
    return runs


class ReservoirEngine:
    """Batched, two-threaded inference of a reservoirpy reservoir (same weights, same states).

    Parameters
    ----------
    W : (units, units) array or sparse matrix
        Recurrent weights of the trained :class:`reservoirpy.nodes.Reservoir`.
    Win : (units, inputs) array or sparse matrix
        Input weights.
    bias : float or (units,) array
        Bias of the reservoir.
    leak_rate : float
        The reservoir's ``lr``.
    threads : int
        Groups of chunks stepped in parallel (2: one per core here).
    dtype : numpy dtype
        Of the weights and states as stepped (float64: reservoirpy's arithmetic;
        :data:`INFERENCE_DTYPE` for annotation, :meth:`astype`).
    """

    def __init__(self, W, Win, bias, leak_rate: float, threads: int = 2, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self._twins: dict[np.dtype, ReservoirEngine] = {self.dtype: self}
        self._args = (W, Win, bias, float(leak_rate), int(threads))
        W = scipy.sparse.csr_array(W, dtype=self.dtype)
        W.sort_indices()
        self.units = W.shape[0]
        self.w_data = np.ascontiguousarray(W.data)
        self.w_indices = np.ascontiguousarray(W.indices.astype(np.int64))
        self.w_indptr = np.ascontiguousarray(W.indptr.astype(np.int64))
        Win = Win.toarray() if hasattr(Win, "toarray") else np.asarray(Win)
        self.Win_T = np.ascontiguousarray(np.asarray(Win, dtype=self.dtype).T)
        self.bias = np.broadcast_to(np.asarray(bias, dtype=self.dtype), (self.units,)).copy()
        self.leak_rate = float(leak_rate)
        self._threads = [max(1, int(threads))]  # shared with the dtype twins (astype)

    @classmethod
    def from_reservoir(cls, reservoir, threads: int = 2) -> ReservoirEngine:
        """The engine of an initialised :class:`reservoirpy.nodes.Reservoir`."""
        return cls(reservoir.W, reservoir.Win, reservoir.bias, reservoir.lr, threads=threads)

    @property
    def threads(self) -> int:
        """Threads stepping the slots (e.g. 1 in each of as many dask workers as cores)."""
        return self._threads[0]

    @threads.setter
    def threads(self, n: int) -> None:
        self._threads[0] = max(1, int(n))

    def astype(self, dtype) -> ReservoirEngine:
        """The same reservoir stepped in ``dtype`` (built once, then cached; same threads)."""
        dtype = np.dtype(dtype)
        if dtype not in self._twins:
            twin = ReservoirEngine(*self._args, dtype=dtype)
            twin._threads, twin._twins = self._threads, self._twins
            self._twins[dtype] = twin
        return self._twins[dtype]

    def states(
        self,
        x: np.ndarray,
        bidirectional: bool = True,
        lo: int = 0,
        hi: int | None = None,
        chunk: int | None = None,
        warmup: int | None = WARMUP_FRAMES,
        dtype=None,
    ) -> np.ndarray:
        """Reservoir states of output frames ``[lo, hi)`` of inputs ``x`` (time, inputs).

        Returns (hi - lo, units) or, ``bidirectional``, (hi - lo, 2 * units): forward
        states, then backward states (each run from rest, as :meth:`Reservoir.run` on
        ``x`` and on ``x[::-1]``). Frames of ``x`` outside ``[lo, hi)`` are context:
        warm-up of the chunks at the edges. ``chunk``: frames per chunk (default: enough
        chunks for :data:`BATCH_PER_THREAD` sequences a thread, within
        :data:`MIN_CHUNK`-:data:`MAX_CHUNK`). ``dtype``: step in this dtype (:meth:`astype`)
        instead of the engine's; the states are returned in it.
        """
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self.astype(dtype).states(x, bidirectional, lo, hi, chunk, warmup)
        x, runs, n_out = self._chunk_runs(x, bidirectional, lo, hi, chunk, warmup)
        out = np.zeros((n_out, self.units * (2 if bidirectional else 1)), self.dtype)
        if runs:
            self._run(x, runs, out, drive=self._whole_drive(x))
        return out

    def scores(
        self,
        x: np.ndarray,
        w_states: np.ndarray,
        bidirectional: bool = True,
        lo: int = 0,
        hi: int | None = None,
        chunk: int | None = None,
        warmup: int | None = WARMUP_FRAMES,
        dtype=None,
    ) -> np.ndarray:
        """``states(x, ...) @ w_states`` (float64), without keeping the states.

        The runs of :meth:`states`, with the read-out computed inside the compiled step as
        in :meth:`scores_many` (``w_states``: its rows for the forward, then backward
        states): memory is the inputs and the outputs, and the read-out costs no states
        array and no separate product.
        """
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self.astype(dtype).scores(x, w_states, bidirectional, lo, hi, chunk, warmup)
        w = self._readout(w_states, bidirectional)
        x, runs, n_out = self._chunk_runs(x, bidirectional, lo, hi, chunk, warmup)
        parts = np.zeros((len(w), n_out, w.shape[1]))
        if runs:
            self._run(x, runs, parts, w, drive=self._whole_drive(x))
        return parts.sum(0)

    def _chunk_runs(self, x, bidirectional: bool, lo: int, hi, chunk, warmup):
        """Inputs in the engine's dtype, the runs of :meth:`states`, and the output rows."""
        x = np.asarray(x, dtype=self.dtype)
        n = len(x)
        hi = n if hi is None else hi
        n_out = max(0, hi - lo)
        if n_out == 0:
            return x, [], 0
        if chunk is None:
            per_thread = BATCH_PER_THREAD * self.threads // (2 if bidirectional else 1)
            chunk = int(np.clip(-(-n_out // per_thread), MIN_CHUNK, MAX_CHUNK))
        runs = [
            (f, np.where(o >= 0, o - lo, -1), 0)
            for f, o in chunk_plan(n, lo, hi, chunk, warmup, False)
        ]
        if bidirectional:
            runs += [
                (f, np.where(o >= 0, o - lo, -1), 1)
                for f, o in chunk_plan(n, lo, hi, chunk, warmup, True)
            ]
        return x, runs, n_out

    def _whole_drive(self, x: np.ndarray) -> np.ndarray:
        """The input part of every frame (chunks overlap by their warm-up: computed once,
        then gathered)."""
        drive = np.matmul(x, self.Win_T)
        drive += self.bias
        return drive

    def _readout(self, w_states: np.ndarray, bidirectional: bool) -> np.ndarray:
        """A read-out's state rows as (directions, outputs, units), the compiled step's."""
        dirs = 2 if bidirectional else 1
        w = np.ascontiguousarray(np.asarray(w_states, dtype=self.dtype))
        if w.shape[0] != dirs * self.units:
            raise ValueError(f"w_states has {w.shape[0]} rows, expected {dirs * self.units}")
        return np.ascontiguousarray(w.reshape(dirs, self.units, w.shape[1]).transpose(0, 2, 1))

    def states_many(self, xs: Sequence[np.ndarray], bidirectional: bool = True) -> list[np.ndarray]:
        """Reservoir states of several sequences, each run whole from rest (no warm-up).

        Each item as :meth:`states` with ``warmup=None`` (the same arithmetic, so equal to
        reservoirpy's ``Reservoir.run`` up to floating-point noise), but the runs of all
        sequences (forwards and, ``bidirectional``, backwards) share the batch: they are
        laid end to end in the slots (:func:`pack_runs`), so short recordings cost no
        warm-up and fill the batch together. Memory: 8 bytes x units x 3 per frame of all
        sequences (bidirectional): give it minutes of audio at a time, not hours.
        """
        x_all, offsets, runs = self._whole_runs(xs, bidirectional)
        out = np.zeros((int(offsets[-1]), self.units * (2 if bidirectional else 1)))
        self._run(x_all, runs, out)
        return [out[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    def scores_many(
        self,
        xs: Sequence[np.ndarray],
        w_states: np.ndarray,
        bidirectional: bool = True,
        dtype=None,
    ) -> list[np.ndarray]:
        """The read-out of the states of :meth:`states_many`, without keeping the states.

        Parameters
        ----------
        xs : sequence of (time, inputs) arrays
        w_states : (units or 2 * units, outputs) array
            The rows of a linear read-out that multiply the states (forward, then backward).
        bidirectional : bool
        dtype : numpy dtype, optional
            Step the reservoir in this dtype (:meth:`astype`) instead of the engine's; the
            scores are accumulated and returned in float64.

        Returns
        -------
        list of (time, outputs) arrays
            ``states_many(xs)[i] @ w_states``, up to floating-point noise: each step adds
            its slot's state times the read-out to the output row (compiled), so memory is
            the inputs and the outputs only.
        """
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self.astype(dtype).scores_many(xs, w_states, bidirectional)
        w = self._readout(w_states, bidirectional)
        x_all, offsets, runs = self._whole_runs(xs, bidirectional)
        parts = np.zeros((len(w), int(offsets[-1]), w.shape[1]))
        self._run(x_all, runs, parts, w)
        total = parts.sum(0)
        return [total[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    def _whole_runs(self, xs, bidirectional: bool):
        """Inputs in one array, their offsets, and one whole run a direction each."""
        xs = [np.asarray(x, dtype=self.dtype) for x in xs]
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in xs])]).astype(np.int64)
        n_in = self.Win_T.shape[0]
        x_all = np.concatenate(xs) if xs else np.empty((0, n_in))
        runs = []
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            if b > a:
                frames = np.arange(a, b)
                runs.append((frames, frames, 0))
                if bidirectional:
                    runs.append((frames[::-1], frames[::-1], 1))
        return x_all, offsets, runs

    def _run(
        self,
        x: np.ndarray,
        runs: list,
        out: np.ndarray,
        w_out: np.ndarray | None = None,
        drive: np.ndarray | None = None,
    ) -> None:
        """Step ``runs`` (input rows of ``x``, output rows, direction) on threads.

        The runs are packed into ``BATCH_PER_THREAD`` slots a thread (:func:`pack_runs`,
        lengths balanced); each thread steps its slots together. The input part
        ``Win u + b`` is computed :data:`DRIVE_BLOCK` steps at a time for the thread's slots
        (one small matrix product that stays in cache, instead of a whole-input array of 8
        bytes x units a frame), with BLAS limited to one thread meanwhile (threadpoolctl):
        BLAS threads inside the two engine threads made it 12-14x slower. ``w_out`` None:
        states are stored in ``out`` (rows, directions x units); else ``out`` (directions,
        rows, outputs) receives ``state @ w_out[direction].T`` (``w_out``: directions,
        outputs, units). ``drive``: the input part of every row of ``x``, if computed
        already (rows are then gathered, not multiplied).
        """
        if not runs:
            return
        slots = BATCH_PER_THREAD * self.threads
        idx, out_idx, out_col, start = pack_runs(runs, slots)
        used = len(idx)
        groups = [np.arange(g, used, self.threads) for g in range(min(self.threads, used))]

        def work(rows):
            g_idx, g_out = idx[rows], out_idx[rows]
            g_col, g_start = out_col[rows], start[rows]
            state = np.zeros((self.units, len(rows)), self.dtype)
            pre = np.empty_like(state)
            v = np.empty(self.units, self.dtype)
            for k in range(g_idx.shape[1]):
                kd = k % DRIVE_BLOCK
                if kd == 0:  # the input part of the next block of steps
                    frames = np.maximum(g_idx[:, k : k + DRIVE_BLOCK], 0)
                    if drive is not None:
                        block = drive[frames]
                    else:
                        block = np.matmul(x[frames], self.Win_T)
                        block += self.bias
                _pre_activation(
                    k,
                    kd,
                    g_idx,
                    g_start,
                    block,
                    self.w_data,
                    self.w_indices,
                    self.w_indptr,
                    state,
                    pre,
                )
                np.tanh(pre, out=pre)
                if w_out is None:
                    _leak_and_store(k, self.leak_rate, pre, state, g_out, g_col, out)
                else:
                    _leak_and_read(k, self.leak_rate, pre, state, g_out, g_col, w_out, out, v)

        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            self._on_threads(work, groups)

    @staticmethod
    def _on_threads(work, groups) -> None:
        """``work(group)`` for every group, each on its own thread (the first error re-raised)."""
        if len(groups) == 1:
            work(groups[0])
            return
        errors: list[BaseException] = []

        def guarded(rows):
            try:
                work(rows)
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)

        workers = [threading.Thread(target=guarded, args=(g,)) for g in groups]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        if errors:
            raise errors[0]
