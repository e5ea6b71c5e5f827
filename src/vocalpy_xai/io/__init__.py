"""Audio and annotation input/output, and data-set manifests."""

from .annotations import (
    WRITABLE_SEQ_FORMATS,
    SegmentTable,
    annotation_formats,
    read_annotations,
    write_annotations,
)
from .audio import AUDIO_EXTENSIONS, AudioRecord, load_audio, sha256_file
from .manifest import Manifest, natural_key

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioRecord",
    "Manifest",
    "SegmentTable",
    "WRITABLE_SEQ_FORMATS",
    "annotation_formats",
    "load_audio",
    "natural_key",
    "read_annotations",
    "sha256_file",
    "write_annotations",
]
