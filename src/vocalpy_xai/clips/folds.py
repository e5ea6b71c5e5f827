"""Cross-validation folds by recording, and the fixed Bird0 split, for the classifiers.

Folds are always by whole recording: clips cut from one xeno-canto recording (one
``xc_id``) fall in the same fold, so no recording has clips in both train and test.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ManifestError
from ..store.splits import prefix_split

#: Bird0's fixed split (see :func:`bird0_fixed_split`)
BIRD0_MIN_TRAIN_S: float = 600.0
BIRD0_TEST: range = range(95, 135)


def _labels_and_groups(
    labels: pd.DataFrame | xr.Dataset | str | os.PathLike,
    label_column: str,
    group_column: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip labels and recording ids from a label table, its path, or a store."""
    if isinstance(labels, xr.Dataset):
        if "label" not in labels:
            raise ValueError("this store has no clip labels; build it from a label table")
        y = labels["label"].values.astype(str)
        key = f"meta_{group_column}"
        groups = labels[key].values.astype(str) if key in labels else np.arange(len(y)).astype(str)
        return y, groups
    path = None
    if not isinstance(labels, pd.DataFrame):
        path = pathlib.Path(labels)
        if not path.is_file():
            raise ManifestError(path, "label table not found")
        labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in (label_column, group_column):
        if col not in labels.columns:
            raise ManifestError(
                path or "<label table>",
                f"label table has no column '{col}'; columns are {list(labels.columns)}",
            )
    return labels[label_column].astype(str).to_numpy(), labels[group_column].astype(str).to_numpy()


def species_folds(
    labels_table_or_store: pd.DataFrame | xr.Dataset | str | os.PathLike,
    n_folds: int = 5,
    seed: int = 0,
    label_column: str = "scientific_name",
    group_column: str = "xc_id",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold cross-validation by recording, reproducible from a seed.

    Parameters
    ----------
    labels_table_or_store : pandas.DataFrame, path to a CSV, or xarray.Dataset
        A clip-label table (xeno-canto's ``labels.csv``: one row per clip), or a store
        built from one (its ``label`` and ``meta_<group_column>`` variables are used; a
        store without the group column treats every clip as its own recording).
    n_folds : int
        Number of folds (default 5: on 10 clips per species, 8 train and 2 test per fold).
    seed : int
        Seed of the shuffle; the same seed gives the same folds.
    label_column, group_column : str
        Columns of the table with the class (default ``scientific_name``) and the
        recording id (default ``xc_id``).

    Returns
    -------
    folds : list of (train, test) tuples of int arrays
        Row (clip) indices, sorted. Test sets are disjoint and cover every clip once;
        all clips of a recording are on the same side; each class is spread over the
        folds as evenly as its recordings allow (:class:`sklearn.model_selection.
        StratifiedGroupKFold`, shuffled).

    Raises
    ------
    ValueError
        A class has fewer recordings than ``n_folds``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y, groups = _labels_and_groups(labels_table_or_store, label_column, group_column)
    per_class = pd.Series(groups).groupby(y).nunique()
    short = per_class[per_class < n_folds]
    if len(short):
        raise ValueError(
            f"n_folds={n_folds} but class(es) {short.to_dict()} have fewer recordings; "
            "lower n_folds"
        )
    cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = []
    for train, test in cv.split(np.zeros(len(y)), y, groups):
        folds.append((np.sort(train), np.sort(test)))
    return folds


def fold_ids(folds: Sequence[tuple[np.ndarray, np.ndarray]], n: int | None = None) -> np.ndarray:
    """The test fold of each clip: int array, ``fold_ids(folds)[i] == k`` when clip ``i``
    is in the test set of fold ``k``."""
    n = n if n is not None else sum(len(test) for _, test in folds)
    out = np.full(n, -1, dtype=int)
    for k, (_, test) in enumerate(folds):
        out[test] = k
    return out


def bird0_fixed_split(
    durations: Sequence[float] | np.ndarray,
    min_train_s: float = BIRD0_MIN_TRAIN_S,
    test: Sequence[int] | np.ndarray = BIRD0_TEST,
) -> tuple[np.ndarray, np.ndarray]:
    """Bird0's fixed split (the one :mod:`benchmarks.bench_esn` uses).

    Files sorted by number (store order of ``Manifest.from_annotation_file``); TRAIN is
    the shortest prefix 0, 1, 2, ... with at least ``min_train_s`` (600) seconds of audio;
    TEST is files 95-134. Files in between are unused.

    Parameters
    ----------
    durations : sequence of float
        Duration (s) of every clip, in store order (``ds["duration_s"].values``).
    min_train_s : float
        Seconds of audio TRAIN must hold (default 600).
    test : sequence of int
        Test clip indices (default ``range(95, 135)``).

    Returns
    -------
    train, test : numpy.ndarray of int
        Clip indices.
    """
    durations = np.asarray(durations, dtype=float)
    test = np.asarray(list(test), dtype=int)
    if test.size and test.max() >= len(durations):
        raise ValueError(
            f"test clips go up to {test.max()} but there are {len(durations)} clips "
            "(the fixed split is defined on all 135 Bird0 songs)"
        )
    split = prefix_split(durations, min_train_s, test)
    return np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
