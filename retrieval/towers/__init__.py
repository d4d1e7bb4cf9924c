"""Tower definitions: each maps one modality into the joint space."""
from .audio import AudioTowerConfig, ShortChunkCNN
from .word import WordTowerConfig, WordTower

__all__ = ["AudioTowerConfig", "ShortChunkCNN", "WordTowerConfig", "WordTower"]
