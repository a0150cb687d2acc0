"""ipywidgets front end to the loading pipeline.

``Loader`` lets a user pick an object, set the loader options and step
through parse → BTF → maps → relocate → load, one button per stage or
"run all".  Each stage's result appears as its own HTML (what changed);
errors appear as the typed error with its explanation (the verifier log
table for a rejected program), never as a traceback.  Unprivileged, the
same steps run as an explicit dry run, and the widget says so.

All state lives in plain widgets (``HTML``, not ``Output``), so the logic
is driven and checked from pytest by calling ``button.click()``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from .._optional import require
from ..errors import BpfnbError
from .html import Raw, escape, table, wrap

__all__ = ["Loader", "MapView"]


def _parse_assignments(text: str, what: str) -> dict[str, Any]:
    """``name=value`` per line (values as Python literals) → dict."""
    out: dict[str, Any] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{what} line {n}: expected name=value, got {line!r}")
        try:
            out[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise ValueError(f"{what} line {n}: {value.strip()!r} is not a Python literal") from None
    return out


class Loader:
    """A widget that loads an eBPF object stage by stage."""

    def __init__(self, source: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str] | None = None,
                 dry_run: bool | None = None):
        """``dry_run``: None decides from this process's privileges; True never makes syscalls."""
        widgets = require("ipywidgets")
        from .. import examples
        from ..kernel.features import can_use_bpf

        self.privileged = can_use_bpf() and not dry_run
        self._dry_run = dry_run
        self.pipeline: Any = None
        choices = [(f"example: {n}", str(examples.path(n))) for n in examples.names()]
        if directory is not None:
            base = Path(directory)
            choices += [(p.name, str(p)) for p in sorted(base.glob("*.o")) if p.is_file()]
        if source is not None:
            src = str(Path(source))
            if src not in [v for _, v in choices]:
                choices.insert(0, (Path(src).name, src))
        self.object = widgets.Dropdown(options=choices, value=str(Path(source)) if source is not None else choices[0][1], description="object")
        self.globals = widgets.Textarea(placeholder="min_len = 64", description="globals")
        self.max_entries = widgets.Textarea(placeholder="proto_stats = 1024", description="max entries")
        self.pin_path = widgets.Text(placeholder="/sys/fs/bpf/mydir", description="pin path")
        self.log_level = widgets.Dropdown(options=[0, 1, 2], value=0, description="log level")
        self.target_btf = widgets.Text(placeholder="(running kernel)", description="target BTF")
        from ..loader import STAGES

        self.buttons = {s: widgets.Button(description=s, tooltip=f"run the {s} stage") for s in STAGES}
        for stage, button in self.buttons.items():
            button.on_click(lambda _b, stage=stage: self.run_stage(stage))
        self.attach_button = widgets.Button(description="attach", tooltip="attach every program whose section names its target")
        self.attach_button.on_click(lambda _b: self.attach())
        self.run_all_button = widgets.Button(description="run all", button_style="primary")
        self.run_all_button.on_click(lambda _b: self.run_all())
        self.reset_button = widgets.Button(description="reset", tooltip="close everything and start again")
        self.reset_button.on_click(lambda _b: self.reset())
        mode = (
            "privileged: the stages make real syscalls"
            if self.privileged
            else "dry run: this process lacks CAP_BPF/CAP_SYS_ADMIN, so nothing is loaded into the kernel"
        )
        self.mode = widgets.HTML(wrap("bpfnb loader", f'<div class="bpfnb-note">{escape(mode)}</div>'))
        self.status = widgets.HTML()
        self.outputs = {s: widgets.HTML() for s in STAGES}
        self.attach_output = widgets.HTML()
        self.attachments: dict[str, Any] = {}
        self.error = widgets.HTML()
        options = widgets.VBox([self.object, self.globals, self.max_entries, self.pin_path, self.log_level, self.target_btf])
        controls = widgets.HBox([*self.buttons.values(), self.attach_button, self.run_all_button, self.reset_button])
        self.widget = widgets.VBox(
            [self.mode, options, controls, self.status, self.error, *self.outputs.values(), self.attach_output]
        )
        self._refresh()

    # --- actions -------------------------------------------------------------------

    def _make_pipeline(self):
        from ..btf import Btf
        from ..loader import EbpfLoader

        loader = EbpfLoader().verifier_log_level(self.log_level.value)
        if self._dry_run is not None:
            loader.dry_run(self._dry_run)
        for name, value in _parse_assignments(self.globals.value, "globals").items():
            loader.set_global(name, value)
        for name, value in _parse_assignments(self.max_entries.value, "max entries").items():
            loader.set_max_entries(name, int(value))
        if self.pin_path.value.strip():
            loader.map_pin_path(self.pin_path.value.strip())
        if self.target_btf.value.strip():
            loader.target_btf(Btf.from_file(self.target_btf.value.strip()))
        return loader.pipeline(self.object.value)

    def run_stage(self, stage: str) -> None:
        """Run stages up to ``stage`` (earlier ones first, if not yet run)."""
        self.error.value = ""
        try:
            if self.pipeline is None:
                self.pipeline = self._make_pipeline()
            while self.pipeline.next_stage is not None:
                current = self.pipeline.next_stage
                result = self.pipeline.next()
                self.outputs[current].value = result._repr_html_()
                if current == stage:
                    break
        except (BpfnbError, ValueError, OSError) as exc:
            self.error.value = _error_html(exc)
        self._refresh()

    def run_all(self) -> None:
        from ..loader import STAGES

        self.run_stage(STAGES[-1])

    def attach(self) -> None:
        """Attach the loaded programs whose section says where (tracepoints, raw_tp, tp_btf, uprobes...).

        XDP, tc and cgroup programs need a target the section does not name
        (an interface, a cgroup): the table says so instead of guessing one.
        """
        from ..programs import as_typed, auto_attach

        if self.pipeline is None or "load" not in self.pipeline.results:
            self.run_all()
        if self.pipeline is None or "load" not in self.pipeline.results:
            return
        self.error.value = ""
        if self.pipeline.dry_run:
            self.attach_output.value = wrap("attach (dry run)", '<div class="bpfnb-note">attaching needs CAP_BPF: '
                                            "nothing was loaded, so nothing is attached</div>")
            self._refresh()
            return
        self.attachments = auto_attach(self.pipeline.programs, keep_errors=True)
        rows = []
        for name, program in self.pipeline.programs.items():
            section = as_typed(program).section
            outcome = self.attachments.get(name)
            if outcome is None:
                rows.append((name, program.spec.section, "needs a target: use attach(...) with an interface or cgroup"))
            elif isinstance(outcome, BaseException):
                rows.append((name, program.spec.section, Raw(f'<span class="bpfnb-err">{escape(outcome)}</span>')))
            else:
                where = section.target if section is not None else ""
                rows.append((name, program.spec.section, Raw(f'<span class="bpfnb-ok">attached</span> {escape(where or "")}')))
        body = table(("program", "section", "attachment"), rows, max_rows=None)
        self.attach_output.value = wrap("attach", body)
        self._refresh()

    def reset(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()  # typed programs detach their links as they close
        self.pipeline = None
        self.attachments = {}
        for out in self.outputs.values():
            out.value = ""
        self.attach_output.value = ""
        self.error.value = ""
        self._refresh()

    def close(self) -> None:
        self.reset()
        self.widget.close()

    # --- display ---------------------------------------------------------------------

    def _refresh(self) -> None:
        from ..loader import STAGES

        done = set(self.pipeline.results) if self.pipeline is not None else set()
        failed = set(self.pipeline.errors) if self.pipeline is not None else set()
        for stage, button in self.buttons.items():
            button.button_style = "success" if stage in done else "danger" if stage in failed else ""
            button.disabled = stage in done or bool(failed)
        self.run_all_button.disabled = bool(failed) or len(done) == len(STAGES)
        self.attach_button.disabled = bool(failed) or bool(self.attachments)
        if self.pipeline is None:
            self.status.value = ""
        else:
            self.status.value = self.pipeline._repr_html_()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"<Loader {Path(self.object.value).name!r} {'privileged' if self.privileged else 'dry run'}>"


class MapView:
    """A live view of a map: its DataFrame (and a bar chart) refreshed on an interval.

    ``refresh()`` reads the map once (batch lookups, BTF-typed columns);
    ``start()`` refreshes every ``interval`` seconds from a background
    thread until ``stop()`` or the stop button.  The bars are drawn by
    pandas' ``Styler.bar`` on the numeric column ``plot`` (default: the
    first numeric value column), so no plotting library is needed.
    """

    def __init__(self, bpf_map: Any, *, interval: float = 1.0, rows: int = 20, sort_by: str | None = None,
                 plot: str | None = None, layout: str = "long"):
        widgets = require("ipywidgets")
        import threading

        self.map = bpf_map.typed() if hasattr(bpf_map, "typed") and not hasattr(bpf_map, "to_dataframe") else bpf_map
        self.interval = interval
        self.rows = rows
        self.sort_by = sort_by
        self.plot = plot
        self.layout = layout
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.table = widgets.HTML()
        self.status = widgets.HTML()
        self.stop_button = widgets.Button(description="stop", disabled=True)
        self.stop_button.on_click(lambda _b: self.stop())
        self.start_button = widgets.Button(description="start", button_style="primary")
        self.start_button.on_click(lambda _b: self.start())
        self.widget = widgets.VBox([widgets.HBox([self.start_button, self.stop_button]), self.status, self.table])

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def frame(self):
        """The map as a DataFrame, sorted and cut to ``rows`` as shown."""
        df = self.map.to_dataframe(layout=self.layout)
        if self.sort_by is not None and self.sort_by in df.columns:
            df = df.sort_values(self.sort_by, ascending=False)
        return df.head(self.rows)

    def refresh(self) -> None:
        try:
            df = self.frame()
        except (BpfnbError, OSError) as exc:
            self.table.value = _error_html(exc)
            return
        column = self.plot or next((c for c in df.columns if c.startswith("value") and df[c].dtype.kind in "iuf"), None)
        if column is not None and len(df):
            html = df.style.bar(subset=[column], color="#7aa6d6").to_html()
        else:
            html = df.to_html()
        self.refreshes += 1
        self.table.value = wrap(f"map {getattr(self.map, 'name', '')}", html)
        state = "refreshing every {:g} s".format(self.interval) if self.running else "stopped"
        self.status.value = f'<div class="bpfnb-note">{escape(len(df))} rows shown · {escape(state)}</div>'

    def start(self) -> None:
        import threading

        if self.running:
            return
        self._stop.clear()

        def loop() -> None:
            while True:
                self.refresh()
                if self._stop.wait(self.interval):
                    break

        self._thread = threading.Thread(target=loop, name="bpfnb-mapview", daemon=True)
        self._thread.start()
        self.start_button.disabled, self.stop_button.disabled = True, False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * self.interval))
        self._thread = None
        self.start_button.disabled, self.stop_button.disabled = False, True
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self.refresh()
        display(self.widget)

    def __repr__(self) -> str:
        return f"<MapView {getattr(self.map, 'name', '?')!r} {'running' if self.running else 'stopped'}>"


def _error_html(exc: BaseException) -> str:
    """A typed error as a readable block: class, message, and the verifier log if any."""
    head = f'<div class="bpfnb-err"><b>{escape(type(exc).__name__)}</b>: {escape(exc)}</div>'
    hint = getattr(exc, "hint", None)
    if hint:
        head += f'<div class="bpfnb-note">{escape(hint)}</div>'
    log = getattr(exc, "verifier_log", None)
    if log is not None and hasattr(log, "_repr_html_"):
        head += log._repr_html_()
    return wrap("Error", head)
