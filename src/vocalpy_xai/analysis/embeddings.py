"""Syllable embeddings (UMAP), clusters (HDBSCAN) and their agreement with the labels.

:func:`embed` maps syllable patches (:func:`~vocalpy_xai.analysis.syllable_patches`) to 2-D
with umap-learn; :func:`cluster` finds clusters in the embedding with scikit-learn's
:class:`~sklearn.cluster.HDBSCAN` and scores them against the human labels (adjusted Rand
index, over all syllables with HDBSCAN's noise as one cluster, and over the clustered ones);
:func:`plot_embedding` draws the scatter, coloured by label.
"""

from __future__ import annotations

import attrs
import matplotlib.pyplot as plt
import numpy as np

from ..report.plots import label_colors


def embed(
    patches: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0
) -> np.ndarray:
    """UMAP embedding (syllables, 2) of patches (syllables, ...), seeded (single-threaded)."""
    import umap

    x = np.asarray(patches, dtype=np.float32).reshape(len(patches), -1)
    if len(x) < 3:
        raise ValueError(f"need at least 3 syllables to embed, got {len(x)}")
    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, len(x) - 1),
        min_dist=min_dist,
        n_components=2,
        random_state=seed,
        n_jobs=1,
    )
    return reducer.fit_transform(x)


@attrs.define(frozen=True)
class ClusterResult:
    """Clusters of an embedding and their agreement with labels.

    Attributes
    ----------
    clusters : numpy.ndarray
        Cluster of each syllable (-1: noise).
    n_clusters : int
    noise_share : float
        Share of syllables HDBSCAN left unclustered.
    ari : float
        Adjusted Rand index between clusters (noise as one cluster) and labels.
    ari_clustered : float
        The same over clustered syllables only.
    """

    clusters: np.ndarray
    n_clusters: int
    noise_share: float
    ari: float
    ari_clustered: float

    def to_dict(self) -> dict:
        return {
            "n_clusters": self.n_clusters,
            "noise_share": self.noise_share,
            "ari": self.ari,
            "ari_clustered": self.ari_clustered,
        }


def cluster(
    embedding: np.ndarray, labels: np.ndarray, min_cluster_size: int | None = None
) -> ClusterResult:
    """HDBSCAN clusters of an embedding, scored against ``labels`` (adjusted Rand index).

    ``min_cluster_size`` defaults to 1 % of the syllables (at least 5).
    """
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import adjusted_rand_score

    labels = np.asarray(labels).astype(str)
    size = min_cluster_size or max(5, len(embedding) // 100)
    clusters = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(embedding)
    ok = clusters >= 0
    return ClusterResult(
        clusters=clusters,
        n_clusters=int(len(set(clusters[ok]))),
        noise_share=float(1 - ok.mean()),
        ari=float(adjusted_rand_score(labels, clusters)),
        ari_clustered=float(adjusted_rand_score(labels[ok], clusters[ok])) if ok.any() else 0.0,
    )


def plot_embedding(
    embedding: np.ndarray, labels: np.ndarray, title: str = "Syllable embedding (UMAP)"
) -> plt.Figure:
    """Scatter plot of a 2-D embedding, one colour per label, labels at their medians."""
    labels = np.asarray(labels).astype(str)
    colors = label_colors(labels)
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, color in colors.items():
        sel = labels == name
        ax.scatter(*embedding[sel].T, s=4, color=color, label=name, alpha=0.7, linewidths=0)
        cx, cy = np.median(embedding[sel], axis=0)
        ax.annotate(name, (cx, cy), fontsize=9, weight="bold", ha="center")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=7, loc="best", title="label")
    return fig
