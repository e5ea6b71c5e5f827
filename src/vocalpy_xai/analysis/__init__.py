"""Analysis of annotated song: syllable embeddings and clusters, and syntax.

- :func:`syllable_patches`: fixed-size spectrogram patches of syllables from a store;
- :func:`embed` (UMAP), :func:`cluster` (HDBSCAN + adjusted Rand index to the labels),
  :func:`plot_embedding`;
- :func:`transition_matrix` (with start/end), :func:`transition_entropy`, :func:`ngrams`,
  :func:`plot_transitions`.
"""

from .embeddings import ClusterResult, cluster, embed, plot_embedding
from .patches import PatchParams, syllable_patches
from .summary import analyse_store
from .syntax import (
    END,
    START,
    ngrams,
    plot_transitions,
    sequences_of_store,
    transition_entropy,
    transition_matrix,
)

__all__ = [
    "END",
    "analyse_store",
    "START",
    "ClusterResult",
    "PatchParams",
    "cluster",
    "embed",
    "ngrams",
    "plot_embedding",
    "plot_transitions",
    "sequences_of_store",
    "syllable_patches",
    "transition_entropy",
    "transition_matrix",
]
