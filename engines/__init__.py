"""Model engines: plain PyTorch/numpy, no Qt. See :mod:`engines.base` for the contract."""
