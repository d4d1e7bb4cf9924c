"""A 2-D map of the joint space (after Won's figure 5.5): songs, tags and caption sentences
embedded together, laid out by t-SNE (sklearn) on cosine distance, tags labelled."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.query import QueryError

__all__ = ["plot_joint_map"]


def plot_joint_map(model, records, songs: np.ndarray, out: str | Path, title: str,
                   seed: int = 0, max_sentences: int = 30) -> Path:
    from sklearn.manifold import TSNE

    from ..eval_plot import _pyplot, _save
    tags = list(model.config.tags)
    words = model.encode_words(tags)
    sentences = []
    for caption in sorted({r.caption for r in records if r.caption})[:max_sentences]:
        try:
            sentences.append(model.encode_text(caption)[0])
        except QueryError:
            continue
    points = np.vstack([songs, words, *(s[None] for s in sentences)])
    layout = TSNE(n_components=2, metric="cosine", init="random", random_state=seed,
                  perplexity=min(30.0, (len(points) - 1) / 3)).fit_transform(points)
    n_songs, n_tags = len(songs), len(tags)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 8))
    axes.scatter(*layout[:n_songs].T, s=10, color="#94a3b8", label="songs")
    axes.scatter(*layout[n_songs:n_songs + n_tags].T, s=18, color="#6366f1", label="tags")
    if sentences:
        axes.scatter(*layout[n_songs + n_tags:].T, s=18, marker="^", color="#f97316",
                     label="captions")
    for (x, y), tag in zip(layout[n_songs:n_songs + n_tags], tags):
        axes.annotate(tag, (x, y), fontsize=6, color="#312e81")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, plt, out)
