"""WaveNet (issue 3, in progress): the model and its cached incremental step. Not yet in the registry."""

from engines.wavenet.model import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode

__all__ = ["WaveNet", "WaveNetConfig", "mu_law_decode", "mu_law_encode"]
