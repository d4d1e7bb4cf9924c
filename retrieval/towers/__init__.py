"""Towers: each maps one modality into the joint space, registered by kind and type.

Importing this package registers every built-in tower (see registry.py).
"""
from .registry import (TOWER_KINDS, TOWER_TYPES, TowerConfigError, build_tower, register_tower,
                       tower_class, tower_config_from_dict)
from .audio import AudioTowerConfig, ShortChunkCNN
from .word import WordTowerConfig, WordTower
from .sentence import SentenceTowerConfig, SentenceTower
from .playlist import PlaylistTowerConfig, PlaylistTower
from .musicnn_tower import MusiCNNTower, MusiCNNTowerConfig

__all__ = ["AudioTowerConfig", "ShortChunkCNN", "WordTowerConfig", "WordTower",
           "SentenceTowerConfig", "SentenceTower", "PlaylistTowerConfig", "PlaylistTower",
           "MusiCNNTower", "MusiCNNTowerConfig",
           "TOWER_KINDS",
           "TOWER_TYPES", "TowerConfigError", "build_tower", "register_tower", "tower_class",
           "tower_config_from_dict"]
