"""Root pytest settings: nbval does not compare SVG or PNG, and notebook cells carry the ``notebook`` marker.

graphviz's SVG differs between graphviz versions (and has generated ids), and matplotlib's PNG between matplotlib versions,
so graphs are checked by the unit tests through their DOT source instead.  The marker lets one
selection take kernel tests and notebooks together (``-m "kernel or notebook"``: the kernel matrix).
"""

from __future__ import annotations

SKIP_MIME = ("image/svg+xml", "image/png")


def pytest_collection_modifyitems(session, config, items):
    import pytest

    for item in items:
        parent = getattr(item, "parent", None)
        if parent is not None and hasattr(parent, "skip_compare"):
            item.add_marker(pytest.mark.notebook)
            if not all(m in parent.skip_compare for m in SKIP_MIME):
                parent.skip_compare = tuple(parent.skip_compare) + SKIP_MIME
