"""Every engine by name. A new model adds one line here and appears in the CLI and the training panel."""

from __future__ import annotations

from engines.base import Engine
from engines.desm import DesmEngine
from engines.docnade import DocNadeEngine
from engines.draw import DrawEngine
from engines.sentences import SentencesEngine
from engines.statistician import StatisticianEngine
from engines.wavenet import WaveNetEngine

ENGINES: dict[str, type[Engine]] = {
    DrawEngine.name: DrawEngine,
    WaveNetEngine.name: WaveNetEngine,
    SentencesEngine.name: SentencesEngine,
    DocNadeEngine.name: DocNadeEngine,
    DesmEngine.name: DesmEngine,
    StatisticianEngine.name: StatisticianEngine,
}


def get_engine_class(name: str) -> type[Engine]:
    try:
        return ENGINES[name]
    except KeyError:
        raise KeyError(f"unknown model '{name}' (choose from: {', '.join(ENGINES)})") from None
