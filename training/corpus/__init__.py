"""The demo corpus builder: real music21 scores rendered through a General MIDI SoundFont,
tagged by written rules, split by composer or source (DESIGN.md §4)."""
from .builder import CorpusSummary, build_corpus

__all__ = ["build_corpus", "CorpusSummary"]
