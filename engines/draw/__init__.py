from engines.draw.engine import DrawEngine, DrawFrame
from engines.draw.model import Draw, DrawConfig

__all__ = ["Draw", "DrawConfig", "DrawEngine", "DrawFrame"]
