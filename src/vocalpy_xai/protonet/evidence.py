"""A prototype model's evidence per chunk as plain dicts: "this part looks like that part of <clip>".

:func:`top_prototypes` is the one function that turns a model's decision on some chunks
(BirdNET models) or windows (CNN models) into JSON-ready records: for each input, its top
prototypes by contribution to the predicted class (the ranking of
:meth:`~vocalpy_xai.protonet.AudioProtoNet.explain`), where in the input each one matched
(time span in s, band in Hz) and the training cell it is (``banded`` models push every
prototype onto a cell of a named training clip, see :mod:`vocalpy_xai.protonet.banded`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _num(x) -> float | None:
    """A float for JSON (None for NaN)."""
    x = float(x)
    return None if math.isnan(x) else x


def looks_like(match: dict | None, source: dict) -> str:
    """ "this part (t0-t1 s, f0-f1 Hz) looks like that part of <clip> at <t> s, <f0-f1> Hz".

    ``match``: ``t0_s``, ``t1_s``, ``f0_hz``, ``f1_hz`` of the explained part (None: the
    short form "like that part of <clip> ..."); ``source``: ``clip``, ``t0_s``, ``f0_hz``,
    ``f1_hz`` of the prototype's training cell (``t0_s`` None or NaN when it has no
    recorded source).
    """
    here = (
        "like"
        if match is None
        else f"this part ({match['t0_s']:.2f}-{match['t1_s']:.2f} s, "
        f"{match['f0_hz']:.0f}-{match['f1_hz']:.0f} Hz) looks like"
    )
    t0 = source.get("t0_s")
    if not source.get("clip") or t0 is None or not math.isfinite(t0):
        return f"{here} a prototype with no recorded source"
    f0, f1 = sorted((source["f0_hz"], source["f1_hz"]))
    return f"{here} that part of {source['clip']} at {t0:.2f} s, {f0:.0f}-{f1:.0f} Hz"


def top_prototypes(model, X, k: int = 3, start_s: Sequence[float] | None = None) -> list[dict]:
    """Each input's predicted class and its ``k`` top prototypes, as plain dicts.

    Parameters
    ----------
    model : AudioProtoNet
        A trained prototype model (not ``arch="blackbox"``).
    X : array-like
        What the model reads: 3-s chunks of 48-kHz audio (N, 144000) or their BirdNET
        feature maps (BirdNET models), or spectrogram windows (CNN models).
    k : int
        Prototypes per input.
    start_s : sequence of float, optional
        Start of each input in its recording (s), added to the matched time spans
        (default 0).

    Returns
    -------
    list of dict
        One per input: ``predicted_class``, ``probability``, ``start_s`` and ``prototypes``,
        a list of ``k`` dicts ranked by contribution (score x last-layer weight), each with
        ``rank``, ``prototype`` (index), ``class``, ``score`` (similarity), ``weight``,
        ``contribution``, ``match`` (``t0_s``, ``t1_s`` in the recording, ``f0_hz``,
        ``f1_hz``: the cell of the input where the prototype matched best, in its band),
        ``source`` (``clip``, ``source_path``, ``t0_s``, ``t1_s`` in the source
        recording, ``f0_hz``, ``f1_hz``, ``similarity``: the prototype's training cell;
        cosine 1 when the prototype was pushed onto it) and ``text`` ("this part ... looks
        like that part of <clip> at <t> s, <f0-f1> Hz"). NaN becomes None.
    """
    from .activations import _top_prototypes

    model._check_fitted()
    if model.params.arch == "blackbox":
        raise ValueError("a blackbox model has no prototypes: its evidence is a class map")
    X = model._prepare(X)
    starts = np.zeros(len(X)) if start_s is None else np.asarray(start_s, dtype=float)
    if starts.shape != (len(X),):
        raise ValueError(f"start_s must hold {len(X)} values, got shape {starts.shape}")
    parts = model._parts(X)
    ranks = _top_prototypes(model, parts, k)
    weights = model.last_layer()
    names = model.class_names_
    n_freq, n_time = len(model.freq_hz_), X.shape[-1]
    out = []
    for i in range(len(X)):
        pred = int(parts["proba"][i].argmax())
        protos = []
        for r, p in enumerate(ranks[i]):
            p = int(p)
            sim = parts["maps"][i, p]  # (H, W); banded: zero outside the prototype's band
            row, col = np.unravel_index(int(np.argmax(sim)), sim.shape)
            box = model._cell_box(int(row), int(col), n_freq, n_time)
            match = {
                "t0_s": starts[i] + box["t0_s"],
                "t1_s": starts[i] + box["t1_s"],
                "f0_hz": box["f0_hz"],
                "f1_hz": box["f1_hz"],
            }
            info = model.prototypes_[p]
            source = {
                "clip": str(info.get("source_clip", "")),
                "source_path": str(info.get("source_path", "")),
                **{
                    key: _num(info.get(key, float("nan")))
                    for key in ("t0_s", "t1_s", "f0_hz", "f1_hz", "similarity")
                },
            }
            score = float(parts["scores"][i, p])
            weight = float(weights[pred, p]) if weights is not None else float("nan")
            protos.append(
                {
                    "rank": r + 1,
                    "prototype": p,
                    "class": str(info.get("class", "")),
                    "score": score,
                    "weight": _num(weight),
                    "contribution": _num(score * weight),
                    "match": {key: float(v) for key, v in match.items()},
                    "source": source,
                    "text": looks_like(match, source),
                }
            )
        out.append(
            {
                "predicted_class": names[pred],
                "probability": float(parts["proba"][i, pred]),
                "start_s": float(starts[i]),
                "prototypes": protos,
            }
        )
    return out
