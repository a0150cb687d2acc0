"""Views of the models: HTML tables, DataFrames, graphviz graphs, widgets.

Models import these lazily inside ``_repr_html_``/``to_dataframe`` so the
pure layers load without pandas or graphviz.
"""
