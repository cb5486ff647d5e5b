"""WaveNet (van den Oord et al. 2016) with cached incremental generation (Paine et al. 2016)."""

from engines.wavenet.engine import WaveChunk, WaveNetEngine, frames_for
from engines.wavenet.model import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode

__all__ = ["WaveChunk", "WaveNet", "WaveNetConfig", "WaveNetEngine", "frames_for", "mu_law_decode", "mu_law_encode"]
