"""Notebook widgets: ``Loader`` steps through the loading stages; ``MapView`` watches a map.

Needs the ``notebook`` extra (ipywidgets); imported only when used.
"""

from .display.widgets import Loader, MapView

__all__ = ["Loader", "MapView"]
