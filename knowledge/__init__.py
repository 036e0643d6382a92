"""Roadie's lowest layer: sentence embeddings (and, later, the vector store over our documents)."""
