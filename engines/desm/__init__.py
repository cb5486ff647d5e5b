"""DESM (Mitra et al. 2016) with BM25: IN/OUT word2vec embeddings and ranked retrieval."""

from engines.desm.engine import DesmEngine, SearchIndex, SearchResult
from engines.desm.model import DesmConfig

__all__ = ["DesmConfig", "DesmEngine", "SearchIndex", "SearchResult"]
