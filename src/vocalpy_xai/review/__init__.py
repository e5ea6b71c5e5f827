"""Human-in-the-loop review: find doubtful labels, correct them, retrain, compare.

- :func:`cross_val_predictions` / :func:`predictions_of`: frame probabilities of models
  that did not train on the files scored (k-fold by file), or of given models (ensembles);
- :func:`find_disagreements`: a ranked review list (Canapy's 2/3 frame-disagreement rule,
  low confidence, ensemble disagreement); :func:`write_review_list` for the napari plugin;
- :class:`AnnotationVersions`: corrections -> new annotation version (originals kept);
- :func:`build_version_store`, :func:`retrain`: the loop back to a model in the registry;
  :func:`run_loop_once`: the whole loop once, with simulated label noise and reviewer;
- :func:`run_report`: HTML report of a model run (metrics, per-class table, confusion
  matrices, learning curve, worst errors with spectrogram crops).
"""

from ..models.prediction import scores_to_probabilities
from .finder import (
    CANAPY_THRESHOLD,
    REVIEW_COLUMNS,
    FinderParams,
    annotation_digest,
    find_disagreements,
    score_segments,
    store_segments,
    top_share,
)
from .loop import (
    build_version_store,
    evaluate_on_store,
    noise_corrections,
    retrain,
    run_loop_once,
    simulated_review,
    store_annotations,
    truth_tables,
)
from .predictions import (
    FramePredictions,
    SegmentPredictions,
    cross_val_predictions,
    file_folds,
    model_probabilities,
    predictions_of,
    segment_probabilities,
)
from .report import (
    RunReport,
    compute_learning_curve,
    predict_clips,
    run_report,
    training_subsets,
    worst_errors,
)
from .review_list import read_review_list, write_review_list
from .versions import DELETE, AnnotationVersions

__all__ = [
    "annotation_digest",
    "CANAPY_THRESHOLD",
    "DELETE",
    "REVIEW_COLUMNS",
    "AnnotationVersions",
    "FinderParams",
    "FramePredictions",
    "SegmentPredictions",
    "RunReport",
    "build_version_store",
    "compute_learning_curve",
    "cross_val_predictions",
    "evaluate_on_store",
    "file_folds",
    "find_disagreements",
    "model_probabilities",
    "noise_corrections",
    "predict_clips",
    "predictions_of",
    "segment_probabilities",
    "read_review_list",
    "retrain",
    "run_loop_once",
    "run_report",
    "score_segments",
    "scores_to_probabilities",
    "simulated_review",
    "store_annotations",
    "store_segments",
    "top_share",
    "training_subsets",
    "truth_tables",
    "worst_errors",
    "write_review_list",
]
