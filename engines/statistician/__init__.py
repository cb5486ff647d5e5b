"""The Neural Statistician (Edwards & Storkey 2017): model, sets, engine."""

from engines.statistician.engine import StatisticianEngine
from engines.statistician.model import NeuralStatistician, StatisticianConfig, gaussian_kl

__all__ = ["NeuralStatistician", "StatisticianConfig", "StatisticianEngine", "gaussian_kl"]
