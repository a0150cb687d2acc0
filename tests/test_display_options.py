"""Reprs as xarray builds them, and the display options (issue 15, item 8).

The text fallback is visible unless the stylesheet hides it; the stylesheet
and the fallback come once per top-level repr, however many views are
nested in it; ``bpfnb.set_options`` changes how many rows tables show and
whether views render as HTML or text, for the session or for one block.
"""

from __future__ import annotations

import re

import pytest

import bpfnb
from bpfnb import examples
from bpfnb.display.html import ROWS_OPTION, table, this_kernel, wrap
from bpfnb.display.options import OptionError, get_options
from bpfnb.errors import UnknownName
from bpfnb.obj import Object


@pytest.fixture(scope="module")
def obj() -> Object:
    return Object.from_file(examples.path("packet_counter"))


@pytest.fixture(scope="module")
def relocated():
    pipeline = bpfnb.EbpfLoader().dry_run().pipeline(examples.path("packet_counter"))
    pipeline.run("relocate")
    yield pipeline.relocated["xdp_count"]
    pipeline.close()


def _once(html: str) -> None:
    assert html.count("<style>") == 1
    assert html.count('class="bpfnb-text"') == 1


def test_fallback_visible_until_the_stylesheet_hides_it(obj):
    html = obj._repr_html_()
    fallback = re.search(r'<pre class="bpfnb-text"([^>]*)>', html)
    assert fallback is not None and "style" not in fallback.group(1)  # no inline display:none
    assert '<div class="bpfnb-html" style="display:none">' in html      # the rich view waits for CSS
    style = html[html.index("<style>"):html.index("</style>")]
    assert ".bpfnb .bpfnb-text{display:none}" in style
    assert ".bpfnb .bpfnb-html{display:block !important}" in style
    # without the stylesheet (an untrusted notebook) the fallback is the object's text summary
    text = fallback.string[fallback.end():html.index("</pre>", fallback.end())]
    assert "xdp_count" in text and "proto_stats" in text


def test_nested_views_emit_no_second_stylesheet_or_fallback(obj, relocated):
    # a relocated program nests its instruction listing; a ProgramSpec nests its instructions
    for view in (relocated, obj.programs["xdp_count"], obj):
        _once(view._repr_html_())
    inner = relocated.instructions._repr_html_()
    _once(inner)                                   # on its own it is a top-level repr
    outer = relocated._repr_html_()
    assert "Instructions" in outer                 # the nested listing is still there, without its extras
    _once(wrap("outer", inner + inner, text_fallback="outer"))
    _once(this_kernel(relocated, "relocated program")._repr_html_())


def test_display_max_rows_option_and_context_manager(relocated):
    rows = [(i, f"r{i}") for i in range(80)]
    assert table(("n", "v"), rows, total=80).count("<tr>") == 1 + 50  # the default
    with bpfnb.set_options(display_max_rows=5):
        html = table(("n", "v"), rows, total=80)
        assert html.count("<tr>") == 1 + 5 and "showing 5 of 80" in html
        assert get_options()["display_max_rows"] == 5
        with bpfnb.set_options(display_max_rows=None):
            assert table(("n", "v"), rows, total=80).count("<tr>") == 1 + 80
        assert get_options()["display_max_rows"] == 5
    assert get_options()["display_max_rows"] == 50
    assert table(("n", "v"), rows, max_rows=3, total=80).count("<tr>") == 1 + 3  # an explicit limit wins
    # the views that took the module default now follow the option at render time
    n = len(relocated.applied)
    assert n > 2
    with bpfnb.set_options(display_max_rows=2):
        assert f"showing 2 of {n} relocations" in relocated._repr_html_()


def test_set_options_as_a_plain_call_lasts():
    token = bpfnb.set_options(display_max_rows=7)
    try:
        assert table(("n",), [(i,) for i in range(9)]).count("<tr>") == 1 + 7
    finally:
        token.__exit__(None, None, None)
    assert get_options()["display_max_rows"] == 50


def test_display_style_text(obj):
    with bpfnb.set_options(display_style="text"):
        html = obj._repr_html_()
        assert html.startswith('<pre class="bpfnb-plain">') and "<table" not in html and "<style>" not in html
        assert "xdp_count" in html
    assert "<table" in obj._repr_html_()


@pytest.mark.parametrize("options, error, says", [
    ({"display_max_row": 5}, UnknownName, "did you mean 'display_max_rows'"),
    ({"display_style": "svg"}, OptionError, "'html', 'text'"),
    ({"display_max_rows": 0}, OptionError, "positive int"),
    ({"display_max_rows": True}, OptionError, "positive int"),
    ({"display_max_rows": 10, "display_style": "pdf"}, OptionError, "display_style='pdf'"),
])
def test_bad_options_are_refused_whole(options, error, says):
    before = get_options()
    with pytest.raises(error, match=re.escape(says)):
        bpfnb.set_options(**options)
    assert get_options() == before  # the valid one of a bad pair was not set either


def test_rows_option_sentinel_is_not_a_row_count():
    assert ROWS_OPTION < 0
