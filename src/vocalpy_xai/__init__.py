"""vocalpy-xai: explainable models and human-in-the-loop annotation for birdsong.

The public API, re-exported here (heavy parts such as torch and napari are imported only by
the modules that need them):

- I/O: :func:`load_audio`, :func:`read_annotations`, :func:`write_annotations`,
  :class:`Manifest`, :class:`SegmentTable`
- spectrogram stores: :func:`build_store`, :func:`open_store`, :class:`SpectrogramParams`,
  :class:`WindowSampler`, splits
- annotation models: :class:`~vocalpy_xai.models.ESNDecoder` (reservoirpy), post-processing
- segmenters (vocalpy.Segmenter callbacks): :func:`~vocalpy_xai.segment.adaptive_energy`,
  :func:`~vocalpy_xai.segment.esn_segment`
- metrics: :mod:`vocalpy_xai.metrics` (frame accuracy, syllable error rate, boundaries...)
- reports: :class:`Report`
- classification examples (species clips, Bird0 syllables, folds, augmentation):
  :mod:`vocalpy_xai.clips`; the BirdNET baseline: :mod:`vocalpy_xai.baselines`
- batch annotation and species scores of many files on dask.distributed:
  :func:`~vocalpy_xai.batch.annotate_files`, :func:`~vocalpy_xai.batch.classify_files`;
  in one process, :func:`~vocalpy_xai.batch.write_predictions`
- the annotate-review-retrain loop: :class:`Registry` (local, versioned models),
  :func:`~vocalpy_xai.review.find_disagreements`, :class:`~vocalpy_xai.review.AnnotationVersions`,
  :func:`~vocalpy_xai.analysis.analyse_store` (UMAP embeddings, song syntax)

Imported on first use (they load torch, cabrnet, FastAPI or Qt):
:mod:`vocalpy_xai.protonet` (AudioProtoNet, prototype networks on cabrnet),
:mod:`vocalpy_xai.birdnet` (BirdNET V2.4 as a torch module), :mod:`vocalpy_xai.serve`
(local HTTP service) and :mod:`vocalpy_xai.napari` (the napari plugin).
"""

import _vocalpy_xai_torchvision

_vocalpy_xai_torchvision.install()

from . import (  # noqa: E402
    analysis,
    baselines,
    batch,
    clips,
    errors,
    io,
    metrics,
    models,
    progress,
    registry,
    report,
    review,
    segment,
    store,
)
from .analysis import analyse_store  # noqa: E402
from .batch import annotate_files, classify_files, write_predictions  # noqa: E402
from .errors import (  # noqa: E402
    ActivationsFormatError,
    AnnotationError,
    AudioError,
    AudioResampledWarning,
    BuildError,
    ConfigError,
    DataError,
    FormatError,
    ManifestError,
    ModelFolderError,
    NotFittedError,
    StoreError,
    VocalpyXaiError,
)
from .io import (  # noqa: E402
    AudioRecord,
    Manifest,
    SegmentTable,
    annotation_formats,
    load_audio,
    read_annotations,
    write_annotations,
)
from .models import AnnotationPrediction, ESNDecoder, ESNParams  # noqa: E402
from .registry import Registry  # noqa: E402
from .report import Report  # noqa: E402
from .review import AnnotationVersions, find_disagreements  # noqa: E402
from .segment import AdaptiveEnergyParams, adaptive_energy  # noqa: E402
from .store import (  # noqa: E402
    BuildReport,
    ClipReader,
    SpectrogramParams,
    WindowSampler,
    build_store,
    open_store,
    prefix_split,
    split_by_duration,
    split_by_file,
)

__version__ = "0.1.0"

__all__ = [
    "ActivationsFormatError",
    "AnnotationError",
    "AnnotationPrediction",
    "ClipReader",
    "AnnotationVersions",
    "Registry",
    "analyse_store",
    "analysis",
    "annotate_files",
    "batch",
    "classify_files",
    "write_predictions",
    "baselines",
    "clips",
    "find_disagreements",
    "progress",
    "registry",
    "review",
    "AudioError",
    "AudioResampledWarning",
    "AudioRecord",
    "BuildError",
    "ConfigError",
    "BuildReport",
    "DataError",
    "ESNDecoder",
    "ESNParams",
    "FormatError",
    "Manifest",
    "ManifestError",
    "ModelFolderError",
    "NotFittedError",
    "Report",
    "SegmentTable",
    "SpectrogramParams",
    "StoreError",
    "VocalpyXaiError",
    "WindowSampler",
    "annotation_formats",
    "build_store",
    "errors",
    "io",
    "load_audio",
    "metrics",
    "models",
    "open_store",
    "prefix_split",
    "read_annotations",
    "report",
    "segment",
    "adaptive_energy",
    "AdaptiveEnergyParams",
    "split_by_duration",
    "split_by_file",
    "store",
    "write_annotations",
]


#: sub-packages imported on first attribute access (heavy: torch/cabrnet, FastAPI, Qt)
_LAZY = ("protonet", "birdnet", "serve", "napari")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
