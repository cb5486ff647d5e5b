"""The Qt layer of the generative-models playground (the only package that imports PySide6)."""

import pyqtgraph as pg

pg.setConfigOptions(background="w", foreground="k", antialias=True)
