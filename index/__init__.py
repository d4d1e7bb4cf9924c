"""Ingestion (audio → song vectors → Qdrant), the vector-store interface and its Qdrant
back ends. Builds on `retrieval`."""
