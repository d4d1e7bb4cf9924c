"""Datasets and catalog readers, the demo corpus builder, samplers, losses, trainer and
evaluation. Builds on `retrieval`."""
