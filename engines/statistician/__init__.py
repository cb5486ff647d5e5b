"""The Neural Statistician (issue 6, in progress): the model and the paper's synthetic sets; not yet an engine."""

from engines.statistician.model import NeuralStatistician, StatisticianConfig, gaussian_kl

__all__ = ["NeuralStatistician", "StatisticianConfig", "gaussian_kl"]
