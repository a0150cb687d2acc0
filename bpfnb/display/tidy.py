"""DataFrames that keep their types: nullable integers and strings, categorical kinds.

pandas turns an integer column with one missing value into floats
(``btf_id 19126.0``) and strings into ``object``; an analysis notebook then
fights the frame before it can group it.  Every model's ``to_dataframe()``
goes through :func:`tidy`; map *contents* do not (:mod:`bpfnb.btf.frames`
batch decoding picks exact numpy dtypes itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

__all__ = ["tidy"]


def tidy(df: pandas.DataFrame, categorical: Iterable[str] = ()) -> pandas.DataFrame:
    """``df`` with nullable dtypes (``Int64``, ``string``, ``boolean``) and ``categorical`` columns as categories.

    Columns holding other Python objects (tuples, bytes, dicts) are left as they are.
    """
    out = df.convert_dtypes()
    for column in categorical:
        if column in out.columns:
            out[column] = out[column].astype("category")
    return out
