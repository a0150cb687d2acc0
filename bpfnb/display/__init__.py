"""Views of the models: HTML tables, DataFrames, graphviz graphs, widgets.

Models import these lazily inside ``_repr_html_``/``to_dataframe`` so the
pure layers load without pandas or graphviz.
"""

from .html import build_dependent, this_kernel

__all__ = ["build_dependent", "this_kernel"]
