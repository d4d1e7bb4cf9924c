"""Playlists as a modality: readers (MPD slices, JSONL), simulated listening sessions for
the demo corpus, and Word2Vec track vectors trained on playlists."""
