"""Inputs of an AudioProtoNet on BirdNET: 3-s chunks of 48-kHz audio, or their feature maps.

Cut recordings into chunks with :func:`vocalpy_xai.birdnet.chunk_audio` (it resamples and
downmixes). A frozen backbone gives the same feature map for a chunk at every epoch, so
training computes the maps once (:func:`feature_maps`) and trains on them
(:class:`FeatureDataset`); fine-tuning runs BirdNET on the audio at every step
(:class:`ChunkDataset`, with random time shifts as augmentation).
"""

from __future__ import annotations

import numpy as np
import torch

from ..birdnet.model import CHUNK_SAMPLES
from .errors import SpectrogramInputError
from .inputs import ShiftedExamples

#: chunks per forward pass when computing feature maps
FEATURE_BATCH = 32


def as_chunks(X, feature_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Audio chunks (N, 144000) or feature maps (N, C, F', T') as a float32 array, checked.

    Parameters
    ----------
    X : array-like
        ``(N, 144000)`` (or one ``(144000,)`` chunk) of 48-kHz audio, or ``(N, C, F', T')``
        feature maps of the model's BirdNET layer.
    feature_shape : tuple of int, optional
        ``(C, F', T')`` of the layer; 4-D inputs must match it.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 1:
        X = X[None]
    if X.ndim == 2:
        if X.shape[1] != CHUNK_SAMPLES:
            raise SpectrogramInputError(
                f"BirdNET reads 3-s chunks of 48-kHz audio, (N, {CHUNK_SAMPLES}); got {X.shape}. "
                "Cut recordings with vocalpy_xai.birdnet.chunk_audio (it resamples)."
            )
    elif X.ndim == 4:
        if feature_shape is not None and tuple(X.shape[1:]) != tuple(feature_shape):
            raise SpectrogramInputError(
                f"feature maps of shape {X.shape[1:]}, the model's BirdNET layer gives "
                f"{tuple(feature_shape)}"
            )
    else:
        raise SpectrogramInputError(
            f"expected audio chunks (N, {CHUNK_SAMPLES}) or BirdNET feature maps (N, C, F, T), "
            f"got shape {X.shape}"
        )
    if not np.isfinite(X).all():
        raise SpectrogramInputError("the chunks contain NaN or inf")
    return X


@torch.no_grad()
def feature_maps(extractor, X: np.ndarray, progress: bool = False) -> np.ndarray:
    """The backbone's feature maps (N, C, F', T') of chunks (N, 144000), in batches."""
    from tqdm.auto import tqdm

    if X.ndim == 4:
        return X
    out = []
    starts = range(0, len(X), FEATURE_BATCH)
    for lo in tqdm(starts, desc="BirdNET features", unit="batch", disable=not progress):
        x = torch.from_numpy(X[lo : lo + FEATURE_BATCH])
        out.append(extractor.backbone_features(x).numpy())
    return np.concatenate(out)


class FeatureDataset(torch.utils.data.Dataset):
    """(feature map, label) pairs of a frozen backbone."""

    def __init__(self, features: np.ndarray, y: np.ndarray):
        self.X = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int):
        return self.X[i], self.y[i]


class ChunkDataset(ShiftedExamples):
    """(audio chunk, label) pairs, shifted in time by up to ``max_shift`` samples (zeros fill)."""

    fill = 0.0

    def __getitem__(self, i: int):
        return torch.from_numpy(np.ascontiguousarray(self.example(i))), self.y[i]
