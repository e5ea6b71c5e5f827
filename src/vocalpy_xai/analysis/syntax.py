"""Song syntax: label transitions (with start and end), their entropy, common n-grams.

Sequences are the label sequences of annotated files (one song per file, in onset order).
The transition matrix counts ``a -> b`` for consecutive syllables, plus ``<start> -> first``
and ``last -> <end>``; each row normalised gives the transition probabilities, and its
Shannon entropy (bits) says how predictable what follows a label is.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from ..io.manifest import natural_key

START, END = "<start>", "<end>"


def sequences_of_store(ds: xr.Dataset, clips: Sequence[int] | None = None) -> list[list[str]]:
    """Label sequence of every clip of an annotated store (segments are stored in onset order)."""
    seg_clip = ds["segment_clip"].values
    onsets = ds["segment_onset_s"].values
    labels = ds["segment_label"].values.astype(str)
    clips = range(ds.sizes["clip"]) if clips is None else clips
    out = []
    for c in clips:
        sel = np.flatnonzero(seg_clip == c)
        out.append([labels[i] for i in sel[np.argsort(onsets[sel], kind="stable")]])
    return out


def transition_matrix(sequences: Iterable[Sequence[str]], normalize: bool = True) -> pd.DataFrame:
    """Transitions between labels, ``<start>`` and ``<end>``: counts or row probabilities.

    Rows are the current label (``<start>`` first), columns the next (``<end>`` last).
    """
    sequences = [list(map(str, s)) for s in sequences]
    names = sorted({x for s in sequences for x in s}, key=natural_key)
    rows, cols = [START, *names], [*names, END]
    counts = pd.DataFrame(0, index=rows, columns=cols, dtype=np.int64)
    for s in sequences:
        if not s:
            continue
        path = [START, *s, END]
        for a, b in zip(path[:-1], path[1:], strict=True):
            counts.loc[a, b] += 1
    if not normalize:
        return counts
    totals = counts.sum(axis=1).replace(0, 1)
    return counts.div(totals, axis=0)


def transition_entropy(sequences: Iterable[Sequence[str]]) -> pd.Series:
    """Shannon entropy (bits) of what follows each label (and ``<start>``)."""
    sequences = [list(s) for s in sequences]
    p = transition_matrix(sequences).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        h = 0.0 - np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    return pd.Series(h + 0.0, index=transition_matrix(sequences).index, name="entropy_bits")


def ngrams(sequences: Iterable[Sequence[str]], n: int = 3, top: int = 10) -> pd.DataFrame:
    """The ``top`` most common n-grams (within songs): columns ``ngram``, ``count``, ``share``."""
    counter: collections.Counter = collections.Counter()
    for s in sequences:
        s = list(map(str, s))
        counter.update(tuple(s[i : i + n]) for i in range(len(s) - n + 1))
    total = sum(counter.values()) or 1
    rows = [(" ".join(g), c, c / total) for g, c in counter.most_common(top)]
    return pd.DataFrame(rows, columns=["ngram", "count", "share"])


def plot_transitions(matrix: pd.DataFrame, title: str = "Transition probabilities") -> plt.Figure:
    """Heatmap of a transition matrix, probabilities written in the cells above 0.05."""
    fig, ax = plt.subplots(figsize=(0.5 * matrix.shape[1] + 2, 0.5 * matrix.shape[0] + 1.5))
    im = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=90)
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ax.set_xlabel("next")
    ax.set_ylabel("current")
    for (i, j), v in np.ndenumerate(matrix.to_numpy(dtype=float)):
        if v >= 0.05:
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if v > 0.6 else "white",
            )
    fig.colorbar(im, ax=ax, fraction=0.046, label="P(next | current)")
    ax.set_title(title)
    return fig
