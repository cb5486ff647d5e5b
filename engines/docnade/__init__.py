"""DocNADE and DocNADE-LM (Lauly et al. 2016): documents as autoregressive bags of words."""

from engines.docnade.engine import DocNadeEngine
from engines.docnade.model import DocNade, DocNadeConfig, perplexity, shuffle_words

__all__ = ["DocNade", "DocNadeConfig", "DocNadeEngine", "perplexity", "shuffle_words"]
