"""AudioProtoNet: case-based (prototype) networks for spectrograms, built on cabrnet.

- :class:`AudioProtoNet`, :class:`ProtoNetParams`: one model class, five variants
  (``arch="audio"`` frequency-aware ProtoPNet; ``"plain"`` cabrnet ProtoPNet; ``"blackbox"``
  the same backbone with a linear head; ``"prototree"`` cabrnet ProtoTree; ``"banded"``
  cosine prototypes in hard frequency bands on a frozen BirdNET or on the CNN trained first
  as a black box; :func:`prune_impure` disables its impure prototypes); ``AudioProtoNet(params)``
  is a :class:`SpectrogramProtoNet` or a :class:`BirdNETProtoNet` after its backbone;
- :func:`write_activations`, :func:`open_activations`: explanation datasets (zarr) whose maps
  say where in time (s) and frequency (Hz) the evidence lies;
- :func:`classify_recording` (a recording's scores per chunk and overall, each decision with
  its top prototypes in s and Hz) and :func:`recording_activations` (its activation dataset):
  :mod:`~vocalpy_xai.protonet.evidence`, what the server and napari's Predict dock run;
- :mod:`~vocalpy_xai.protonet.quality`: prototype purity, activation inside annotated masks,
  deletion test; :mod:`~vocalpy_xai.protonet.faithfulness`: attribution methods (cabrnet's),
  deletion / insertion curves against a random attribution, pointing game;
  :func:`top_prototypes`: each chunk's top prototypes as plain dicts ("this part looks like
  that part of <clip> at <t> s, <f0-f1> Hz");
- windows: :class:`Windows` and :func:`syllable_windows` are :mod:`vocalpy_xai.clips`'
  (re-exported here); :func:`frequency_band` keeps a band of their rows,
  :func:`sliding_windows` cuts regular windows along one spectrogram array.

See ``docs/protonet.md``.
"""

from ..clips import Windows, syllable_windows
from .activations import open_activations, write_activations
from .birdnet_model import BirdNETProtoNet
from .data import frequency_band, sliding_windows
from .errors import ActivationsFormatError, NotFittedError, SpectrogramInputError
from .evidence import Classification, classify_recording, recording_activations, top_prototypes
from .faithfulness import attribution_maps, perturbation_curves, pointing_game
from .model import AudioProtoNet
from .params import ARCHS, ProtoNetParams
from .pruning import prune_impure
from .quality import activation_in_mask, deletion_test, prototype_purity
from .spectrogram_model import SpectrogramProtoNet

__all__ = [
    "ARCHS",
    "ActivationsFormatError",
    "AudioProtoNet",
    "BirdNETProtoNet",
    "Classification",
    "NotFittedError",
    "ProtoNetParams",
    "SpectrogramInputError",
    "SpectrogramProtoNet",
    "Windows",
    "activation_in_mask",
    "attribution_maps",
    "classify_recording",
    "deletion_test",
    "frequency_band",
    "open_activations",
    "perturbation_curves",
    "pointing_game",
    "prototype_purity",
    "prune_impure",
    "recording_activations",
    "sliding_windows",
    "syllable_windows",
    "top_prototypes",
    "write_activations",
]
