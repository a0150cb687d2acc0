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


#: Upper bound of ``max_entries`` (a u32 in ``bpf_attr``).
_U32_MAX = 0xFFFF_FFFF


def _max_entries(text: str) -> dict[str, int]:
    """``name = N`` lines as map sizes, refused here when the kernel could not take them."""
    out = {}
    for name, value in _parse_assignments(text, "max entries").items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _U32_MAX:
            raise ValueError(f"max entries: {name} = {value!r} is not a map size (an integer from 1 to {_U32_MAX})")
        out[name] = value
    return out


class Loader:
    """A widget that loads an eBPF object stage by stage.

    Every option is read when the pipeline is made (at the first stage);
    changing one afterwards resets the pipeline and says so, rather than
    loading with values the form no longer shows.  The stage results sit
    in tabs, the current stage selected, so the latest result is where the
    eye is; errors (and programs the verifier refused) are shown above them.
    """

    def __init__(self, source: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str] | None = None,
                 dry_run: bool | None = None):
        """``dry_run``: None decides from this process's privileges; True never makes syscalls."""
        widgets = require("ipywidgets")
        from .. import examples
        from ..kernel.features import can_use_bpf
        from ..loader import STAGES

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
        # where attach() puts programs whose section names no target
        self.interface = widgets.Text(placeholder="eth0 (XDP, tc)", description="interface")
        # XDP and tc on a veth pair of their own instead: touches no real interface
        self.veth = widgets.Checkbox(value=False, description="XDP/tc on a new veth pair in a private netns",
                                     indent=False)
        self.sandbox: Any = None  # the VethSandbox, while one exists
        self.direction = widgets.Dropdown(options=["ingress", "egress"], value="ingress", description="tc direction")
        self.cgroup = widgets.Text(placeholder="/sys/fs/cgroup/... (cgroup programs)", description="cgroup")
        self.binary = widgets.Text(placeholder="/usr/bin/bash (uprobes)", description="binary")

        self.buttons = {s: widgets.Button(description=s, tooltip=f"run the {s} stage") for s in STAGES}
        for stage, button in self.buttons.items():
            button.on_click(lambda _b, stage=stage: self.run_stage(stage))
        self.attach_button = widgets.Button(description="attach", tooltip="attach the loaded programs")
        self.attach_button.on_click(lambda _b: self.attach())
        self.detach_button = widgets.Button(description="detach", tooltip="detach what attach attached", disabled=True)
        self.detach_button.on_click(lambda _b: self.detach())
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
        self.notice = widgets.HTML()
        self.outputs = {s: widgets.HTML() for s in STAGES}
        self.attach_output = widgets.HTML()
        self.attachments: dict[str, Any] = {}
        self.attach_errors: dict[str, Exception] = {}
        self.error = widgets.HTML()
        self.tabs = widgets.Tab(children=[*self.outputs.values(), self.attach_output])
        self.tabs.titles = (*STAGES, "attach")
        options = widgets.VBox([self.object, self.globals, self.max_entries, self.pin_path, self.log_level,
                                self.target_btf])
        targets = widgets.VBox([self.interface, self.veth, self.direction, self.cgroup, self.binary])
        controls = widgets.HBox([*self.buttons.values(), self.run_all_button, self.attach_button,
                                 self.detach_button, self.reset_button])
        self.widget = widgets.VBox([self.mode, widgets.HBox([options, targets]), controls, self.notice,
                                    self.error, self.status, self.tabs])
        for option in (self.object, self.globals, self.max_entries, self.pin_path, self.log_level, self.target_btf):
            option.observe(self._option_changed, names="value")
        self._refresh()

    # --- actions -------------------------------------------------------------------

    def _option_changed(self, change: dict[str, Any]) -> None:
        if self.pipeline is None:
            return
        what = change["owner"].description
        self.reset()
        self.notice.value = wrap("options changed", f'<div class="bpfnb-note">{escape(what)} changed: the pipeline '
                                 "was reset (closing what it had loaded); run the stages again to use it</div>")

    def _make_pipeline(self):
        from ..btf import Btf
        from ..loader import EbpfLoader

        loader = EbpfLoader().verifier_log_level(self.log_level.value)
        if self._dry_run is not None:
            loader.dry_run(self._dry_run)
        for name, value in _parse_assignments(self.globals.value, "globals").items():
            loader.set_global(name, value)
        for name, value in _max_entries(self.max_entries.value).items():
            loader.set_max_entries(name, value)
        if self.pin_path.value.strip():
            loader.map_pin_path(self.pin_path.value.strip())
        if self.target_btf.value.strip():
            loader.target_btf(Btf.from_file(self.target_btf.value.strip()))
        return loader.pipeline(self.object.value)

    def run_stage(self, stage: str) -> None:
        """Run stages up to ``stage`` (earlier ones first, if not yet run)."""
        from ..loader import STAGES

        self.error.value = self.notice.value = ""
        try:
            if self.pipeline is None:
                self.pipeline = self._make_pipeline()
            while self.pipeline.next_stage is not None:
                current = self.pipeline.next_stage
                self.tabs.selected_index = STAGES.index(current)
                result = self.pipeline.next()
                self.outputs[current].value = result._repr_html_()
                if current == stage:
                    break
        except Exception as exc:  # a button callback must show every failure, not lose it in a log
            self.error.value = _error_html(exc)
        self._show_program_errors()
        self._refresh()

    def run_all(self) -> None:
        from ..loader import STAGES

        self.run_stage(STAGES[-1])

    def _show_program_errors(self) -> None:
        """Programs the kernel refused, each with its typed error and verifier log, above the tabs."""
        errors = getattr(self.pipeline, "program_errors", None) if self.pipeline is not None else None
        if not errors or self.error.value:
            return
        total = len(errors) + len(self.pipeline.programs)
        head = (f'<div class="bpfnb-err"><b>{len(errors)} of {total} programs were not loaded</b>: '
                f'{escape(", ".join(errors))}</div>')
        self.error.value = wrap("Programs refused", head + "".join(_error_html(exc) for exc in errors.values()))

    def attach(self) -> None:
        """Attach every loaded program: where its section names the target, or to the targets given above.

        XDP and tc programs go to ``interface``, cgroup programs to
        ``cgroup``, uprobes without a binary in their section to ``binary``;
        a program whose target is missing says which one it needs.
        """
        if self.pipeline is None or "load" not in self.pipeline.results:
            self.run_all()
        if self.pipeline is None or "load" not in self.pipeline.results:
            return
        self.error.value = ""
        self.tabs.selected_index = len(self.outputs)
        if self.pipeline.dry_run:
            self.attach_output.value = wrap("attach (dry run)", '<div class="bpfnb-note">attaching needs CAP_BPF: '
                                            "nothing was loaded, so nothing is attached</div>")
            self._refresh()
            return
        rows = []
        self.attach_errors = {}
        for name, program in self.pipeline.programs.items():
            try:
                outcome, where = self._attach_one(program)
            except Exception as exc:  # a refusal is this program's row, the others still attach
                self.attach_errors[name] = exc
                rows.append((name, program.spec.section, Raw(f'<span class="bpfnb-err">{escape(exc)}</span>')))
                continue
            if outcome is None:
                rows.append((name, program.spec.section, where))
            else:
                self.attachments[name] = outcome
                rows.append((name, program.spec.section, Raw(f'<span class="bpfnb-ok">attached</span> {escape(where)}')))
        body = table(("program", "section", "attachment"), rows, max_rows=None)
        if self.sandbox is not None:
            body = (f'<div class="bpfnb-note">XDP and tc attach to {escape(self.sandbox)}: reset or close removes '
                    "the namespace and both ends</div>") + body
        self.attach_output.value = wrap("attach", body)
        self._refresh()

    def _attach_one(self, program: Any) -> tuple[Any, str]:
        """(attachment, where) or (None, what target it needs)."""
        from ..programs import as_typed
        from ..programs.cgroup import CgroupProgram
        from ..programs.net import SchedClassifier, Xdp
        from ..programs.probes import UProbe

        typed = as_typed(program)
        section = typed.section
        if isinstance(typed, (Xdp, SchedClassifier)):
            netns = None
            if self.veth.value:
                if self.sandbox is None:
                    from .netns import VethSandbox

                    self.sandbox = VethSandbox.create()
                interface, netns = self.sandbox.interface, self.sandbox.netns
            else:
                interface = self.interface.value.strip()
            if not interface:
                return None, "needs a target: an interface (or tick the veth pair)"
            where = interface if netns is None else f"{interface} in netns {netns}"
            if isinstance(typed, SchedClassifier):
                return typed.attach(interface, self.direction.value, netns=netns), f"{where} {self.direction.value}"
            return typed.attach(interface, netns=netns), where
        if isinstance(typed, CgroupProgram):
            cgroup = self.cgroup.value.strip()
            return (typed.attach(cgroup), cgroup) if cgroup else (None, "needs a target: a cgroup path")
        if isinstance(typed, UProbe) and (section is None or not section.auto_attachable):
            binary = self.binary.value.strip()
            return (typed.attach(binary), binary) if binary else (None, "needs a target: a binary")
        if section is not None and section.auto_attachable:
            return typed.attach(), section.target or ""
        return None, "needs a target this form does not take: call attach(...) on the program"

    def detach(self) -> None:
        """Detach what attach attached; the veth pair stays for the next attach (reset removes it)."""
        detached = list(self.attachments)
        for attachment in self.attachments.values():
            attachment.detach()
        self.attachments = {}
        self.attach_output.value = wrap("attach", f'<div class="bpfnb-note">detached: {escape(", ".join(detached)) or "nothing"}'
                                                  "</div>")
        self._refresh()

    def _remove_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.remove()
            self.sandbox = None

    def reset(self) -> None:
        """Detach, close everything the pipeline made, remove the veth pair; the form keeps its values."""
        for attachment in self.attachments.values():
            try:
                attachment.detach()
            except Exception:  # noqa: BLE001 - closing the pipeline below detaches it anyway
                pass
        if self.pipeline is not None:
            self.pipeline.close()  # typed programs detach their links as they close
        self._remove_sandbox()
        self.pipeline = None
        self.attachments = {}
        self.attach_errors = {}
        for out in self.outputs.values():
            out.value = ""
        self.attach_output.value = ""
        self.error.value = self.notice.value = ""
        self.tabs.selected_index = 0
        self._refresh()

    def close(self) -> None:
        self.reset()
        self.widget.close()

    # --- display ---------------------------------------------------------------------

    def _refresh(self) -> None:
        from ..loader import STAGES

        done = set(self.pipeline.results) if self.pipeline is not None else set()
        failed = set(self.pipeline.errors) if self.pipeline is not None else set()
        refused = bool(getattr(self.pipeline, "program_errors", None))
        for stage, button in self.buttons.items():
            style = "danger" if stage in failed else "warning" if stage == "load" and refused else ""
            button.button_style = style or ("success" if stage in done else "")
            button.disabled = stage in done or bool(failed)
        self.run_all_button.disabled = bool(failed) or len(done) == len(STAGES)
        self.attach_button.disabled = bool(failed) or bool(self.attachments)
        self.detach_button.disabled = not self.attachments
        self.attach_button.description = f"attached {len(self.attachments)}" if self.attachments else "attach"
        self.attach_button.tooltip = ("attached: " + ", ".join(self.attachments)) if self.attachments else "attach the loaded programs"
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
    thread until ``stop()`` or the stop button; displaying the view starts
    it.  Rows are indexed by the map's keys; the status says how many of
    the map's entries are shown.  The bars are drawn by
    pandas' ``Styler.bar`` on the numeric column ``plot`` (default: the
    first numeric value column), so no plotting library is needed.
    """

    def __init__(self, bpf_map: Any, *, interval: float = 1.0, rows: int = 20, sort_by: str | None = None,
                 plot: str | None = None, layout: str = "long", autostart: bool = True, history: int = 0):
        widgets = require("ipywidgets")
        import threading

        from ..maps import TypedMap, typed

        self.map = bpf_map if isinstance(bpf_map, TypedMap) else typed(bpf_map)
        self.interval = interval
        self.rows = rows
        self.sort_by = sort_by
        self.plot = plot
        self.layout = layout
        self.autostart = autostart
        from ..maps.record import Recorder

        #: the last ``history`` readings, whole, when asked for (``history()`` / ``plot_history()``)
        self.recorder = Recorder(self.map, layout=layout, max_samples=history) if history else None
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
        """The map as a DataFrame indexed by its keys, sorted, and cut to ``rows`` as shown."""
        return self._frame()[0]

    def _frame(self):
        df = self.map.to_dataframe(layout=self.layout)
        if self.recorder is not None:
            self.recorder.sample(df)
        keys = [c for c in df.columns if c in ("key", "index", "cpu") or c.startswith("key.")]
        if keys and len(df):
            df = df.set_index(keys)
        if self.sort_by is not None and self.sort_by in df.columns:
            df = df.sort_values(self.sort_by, ascending=False)
        return df.head(self.rows), len(df)

    def refresh(self) -> None:
        try:
            df, total = self._frame()
        except Exception as exc:  # runs in a thread too: show the failure instead of losing it
            self.table.value = _error_html(exc)
            return
        column = self.plot or next((c for c in df.columns if c.startswith("value") and df[c].dtype.kind in "iuf"), None)
        if column is not None and len(df) and df[column].nunique() > 1:  # bars need a range
            html = df.style.bar(subset=[column], color="#7aa6d6").to_html()
        else:
            html = df.to_html()
        self.refreshes += 1
        self.table.value = wrap(f"map {getattr(self.map, 'name', '')}", html)
        state = "refreshing every {:g} s".format(self.interval) if self.running else "stopped"
        self.status.value = (f'<div class="bpfnb-note">{len(df):,} of {total:,} rows · refreshed '
                             f'{self.refreshes} times · {escape(state)}</div>')

    def history(self):
        """The kept readings stacked, ``time`` first (``MapView(..., history=N)``)."""
        if self.recorder is None:
            raise ValueError("this MapView keeps no history: MapView(map, history=100) keeps the last 100 readings")
        return self.recorder.to_dataframe()

    def plot_history(self, value: str | None = None, ax: Any = None) -> Any:
        """``value`` (default: the plotted column) over time, one line per key (matplotlib)."""
        require("matplotlib")
        df = self.history()
        column = value or self.plot or next((c for c in df.columns if c.startswith("value")
                                              and df[c].dtype.kind in "iuf"), None)
        keys = [c for c in df.columns if c in ("key", "index") or c.startswith("key.")]
        if column is None:
            raise ValueError(f"map {getattr(self.map, 'name', '')!r}: no numeric value column to plot")
        wide = df.pivot_table(index="time", columns=keys, values=column, aggfunc="sum") if keys else \
            df.set_index("time")[[column]]
        return wide.plot(ax=ax, ylabel=column, title=f"map {getattr(self.map, 'name', '')}")

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
        """Displayed, the view starts refreshing (``autostart=False`` shows one reading)."""
        from IPython.display import display

        self.refresh()
        display(self.widget)
        if self.autostart:
            self.start()

    def __repr__(self) -> str:
        return f"<MapView {getattr(self.map, 'name', '?')!r} {'running' if self.running else 'stopped'}>"


def _error_html(exc: BaseException) -> str:
    """A typed error as a readable block: class, message, and the verifier log if any."""
    unexpected = "" if isinstance(exc, (BpfnbError, ValueError, OSError)) else " (unexpected: please report it)"
    head = f'<div class="bpfnb-err"><b>{escape(type(exc).__name__)}</b>{unexpected}: {escape(exc)}</div>'
    hint = getattr(exc, "hint", None)
    if hint:
        head += f'<div class="bpfnb-note">{escape(hint)}</div>'
    log = getattr(exc, "verifier_log", None)
    if log is not None and hasattr(log, "_repr_html_"):
        head += log._repr_html_()
    return wrap("Error", head)
