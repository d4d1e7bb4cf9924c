"""Start a training run from another bundle's weights (`optim.init_from`).

Every weight of the new model whose name and shape match one of the bundle's is copied;
the rest (a new sentence tower, a resized layer) keep their fresh initialisation. This is
how a recipe adds a tower to a trained model, or continues training it on new renderings
and augmentation, without paying again for what the old model already learned.
"""
from __future__ import annotations

from pathlib import Path

from retrieval.bundle import BundleError, load_bundle

from .config import ConfigError

__all__ = ["init_from_bundle"]


def init_from_bundle(model, source: str) -> dict:
    """Copy matching weights from the bundle at `source` ("shipped": the default model)
    into `model`; returns what was taken, for the new bundle's training record."""
    try:
        donor = load_bundle(None if source == "shipped" else Path(source))
    except BundleError as error:
        raise ConfigError(f"optim.init_from: {error}") from None
    theirs = donor.state_dict()
    mine = model.state_dict()
    taken = {name: tensor for name, tensor in theirs.items()
             if name in mine and mine[name].shape == tensor.shape}
    if not taken:
        raise ConfigError(f"optim.init_from: no weight of {source} fits this model "
                          "(different towers or sizes)")
    model.load_state_dict(taken, strict=False)
    towers = sorted({name.split(".")[1] for name in taken if name.startswith("towers.")})
    return {"bundle": source, "fingerprint": donor.fingerprint, "towers": towers,
            "tensors": len(taken), "of": len(mine)}
