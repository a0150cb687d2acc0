"""Notebook widgets: ``bpfnb.widgets.Loader`` steps through the loading stages.

Needs the ``notebook`` extra (ipywidgets); imported only when used.
"""

from .display.widgets import Loader

__all__ = ["Loader"]
