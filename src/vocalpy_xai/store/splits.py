"""Train / validation / test splits by file, reproducible from a seed.

A split is an array of strings, one per clip (``"train"``, ``"val"``, ``"test"``), in store
order. Splits are always by whole file (clip), never by window, so that no recording has
frames on both sides. Attach one to a store with ``ds.assign(split=("clip", split))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")


def split_by_file(
    n_clips: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> np.ndarray:
    """Assign whole files to train/val/test by count.

    Parameters
    ----------
    n_clips : int
        Number of clips (files).
    fractions : sequence of 3 floats
        Shares of files in train, val, test; they must sum to 1.
    seed : int
        Seed of the shuffle: the same seed gives the same split.

    Returns
    -------
    split : numpy.ndarray of str
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n_clips)
    counts = np.floor(fractions * n_clips).astype(int)
    counts[0] += n_clips - counts.sum()  # rounding remainder goes to train
    out = np.empty(n_clips, dtype="<U5")
    bounds = np.cumsum(counts)
    out[order[: bounds[0]]] = "train"
    out[order[bounds[0] : bounds[1]]] = "val"
    out[order[bounds[1] :]] = "test"
    return out


def split_by_duration(
    durations: Sequence[float] | np.ndarray,
    train_dur: float | None = None,
    val_dur: float | None = None,
    test_dur: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Assign whole files to splits until each reaches a target duration (like ``vak prep``).

    Files are shuffled with ``seed``; test, then val, then train take files until their
    target (seconds) is met. A split whose target is None takes every remaining file
    (at most one may be None; train by default).

    Parameters
    ----------
    durations : sequence of float
        Duration (s) of each clip.
    train_dur, val_dur, test_dur : float, optional
        Target durations in seconds.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    split : numpy.ndarray of str
    """
    durations = np.asarray(durations, dtype=float)
    targets = {"train": train_dur, "val": val_dur, "test": test_dur}
    rest = [k for k, v in targets.items() if v is None]
    if len(rest) > 1:
        if train_dur is None and len(rest) == 3:
            raise ValueError("give at least one of train_dur, val_dur, test_dur")
        rest = ["train"] if "train" in rest else rest[:1]
        for k in targets:
            if targets[k] is None and k not in rest:
                targets[k] = 0.0
    total_needed = sum(v for v in targets.values() if v is not None)
    if total_needed > durations.sum() + 1e-9:
        raise ValueError(
            f"split targets need {total_needed:.1f} s but the clips hold {durations.sum():.1f} s"
        )
    order = list(np.random.default_rng(seed).permutation(len(durations)))
    out = np.full(len(durations), "", dtype="<U5")
    for name in ("test", "val", "train"):
        target = targets[name]
        if target is None:
            continue
        got = 0.0
        while got < target and order:
            i = order.pop(0)
            out[i] = name
            got += durations[i]
        if got < target:
            raise ValueError(f"not enough audio left for {name}_dur={target} s")
    for i in order:
        out[i] = rest[0] if rest else "train"
    return out


def prefix_split(
    durations: Sequence[float] | np.ndarray,
    min_train_s: float,
    test: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """The fixed split used for figures that compare across releases.

    TRAIN is the shortest prefix of clips 0, 1, 2, ... (in store order, e.g. files sorted
    by number) holding at least ``min_train_s`` seconds; TEST is the given clip indices;
    everything else is ``""`` (unused). On Bird0: ``prefix_split(dur, 600, range(95, 135))``.

    Raises
    ------
    ValueError
        Not enough audio before the first test clip, or the prefix runs into TEST.
    """
    durations = np.asarray(durations, dtype=float)
    cum = np.cumsum(durations)
    if cum[-1] < min_train_s:
        raise ValueError(f"the clips hold {cum[-1]:.1f} s, less than min_train_s={min_train_s}")
    n_train = int(np.searchsorted(cum, min_train_s, side="left")) + 1
    out = np.full(len(durations), "", dtype="<U5")
    out[:n_train] = "train"
    test = np.asarray(list(test), dtype=int)
    if np.any(out[test] == "train"):
        raise ValueError("the training prefix runs into the test clips")
    out[test] = "test"
    return out
