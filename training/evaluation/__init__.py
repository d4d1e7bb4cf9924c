"""Evaluation of alignment models: tasks (tag → music, …), experiment configs and runs."""
from __future__ import annotations

from .tag_task import evaluate_song_vectors, evaluate_tags, tag_groups, training_tag_counts

__all__ = ["evaluate_tags", "evaluate_song_vectors", "tag_groups", "training_tag_counts"]
