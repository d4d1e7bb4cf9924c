"""The shared embedding space at inference time.

Audio front end, towers, the model bundle (load/save/encode), query parsing and
ranking, catalog records. Imports nothing else of ours: `training`, `index` and `ui`
build on it.
"""
