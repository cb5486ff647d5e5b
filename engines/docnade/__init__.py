"""DocNADE and DocNADE-LM (issue 5, in progress): the model only; not yet in the registry."""

from engines.docnade.model import DocNade, DocNadeConfig, perplexity, shuffle_words

__all__ = ["DocNade", "DocNadeConfig", "perplexity", "shuffle_words"]
