"""Sentence models: LSTM-LM, Bowman's VAE, Yang's dilated-CNN decoders, SA-LSTM, hierarchical AE."""

from engines.sentences.engine import Decoding, SentencesEngine
from engines.sentences.model import SentenceClassifier, SentenceConfig, SentenceModel

__all__ = ["Decoding", "SentenceClassifier", "SentenceConfig", "SentenceModel", "SentencesEngine"]
