"""Human-in-the-loop review: find doubtful labels, correct them, retrain, compare.

- :func:`cross_val_predictions` / :func:`predictions_of`: frame probabilities of models
  that did not train on the files scored (k-fold by file), or of given models (ensembles);
- :func:`find_disagreements`: a ranked review list (Canapy's 2/3 frame-disagreement rule,
  low confidence, ensemble disagreement); :func:`write_review_list` for the napari plugin;
- :class:`AnnotationVersions`: corrections -> new annotation version (originals kept);
- :func:`build_version_store`, :func:`retrain`: the loop back to a model in the registry.
"""

from .finder import (
    CANAPY_THRESHOLD,
    REVIEW_COLUMNS,
    FinderParams,
    find_disagreements,
    score_segments,
    store_segments,
    top_share,
)
from .loop import build_version_store, evaluate_on_store, retrain, truth_tables
from .predictions import (
    FramePredictions,
    cross_val_predictions,
    file_folds,
    model_probabilities,
    predictions_of,
    scores_to_probabilities,
)
from .review_list import read_review_list, write_review_list
from .versions import DELETE, AnnotationVersions

__all__ = [
    "CANAPY_THRESHOLD",
    "DELETE",
    "REVIEW_COLUMNS",
    "AnnotationVersions",
    "FinderParams",
    "FramePredictions",
    "build_version_store",
    "cross_val_predictions",
    "evaluate_on_store",
    "file_folds",
    "find_disagreements",
    "model_probabilities",
    "predictions_of",
    "read_review_list",
    "retrain",
    "score_segments",
    "scores_to_probabilities",
    "store_segments",
    "top_share",
    "truth_tables",
    "write_review_list",
]
