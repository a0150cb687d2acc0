#!/usr/bin/env python3
"""``make lab``: JupyterLab on notebooks/, opening the tour, and saying where it is.

Arguments go to ``jupyter lab`` unchanged (``make lab LAB_ARGS="--port 8899
--ip 0.0.0.0 --no-browser"``).  The server's log passes through; once the
server says where it listens, one line on stdout gives the tour's URL with
its token, which is what a remote user (``--no-browser``) has to paste.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
TOUR = "00-tour.ipynb"
#: The server's own URL lines: "http://127.0.0.1:8899/lab/tree/00-tour.ipynb?token=..."
URL = re.compile(r"(https?://[^\s/]+)/lab/tree/" + re.escape(TOUR) + r"(\?token=\w+)?")


def command(args: list[str], notebooks: Path = ROOT / "notebooks") -> list[str]:
    """``jupyter lab`` on ``notebooks`` opening the tour, then ``args`` (the browser test serves a copy)."""
    jupyter = ROOT / ".venv" / "bin" / "jupyter"
    return [str(jupyter) if jupyter.exists() else "jupyter", "lab", f"--notebook-dir={notebooks}",
            "--allow-root", f"--LabApp.default_url=/lab/tree/{TOUR}", *args]


def tour_url(line: str) -> str | None:
    """The tour's URL in one line of the server's log, preferring the loopback address."""
    match = URL.search(line)
    return match.group(0) if match else None


def say_when_ready(url: str, timeout: float = 60) -> None:
    """Print the tour's URL once the server accepts connections (it logs its URLs a moment before)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    print(f"lab: the tour: {url}", flush=True)


def main(args: list[str]) -> int:
    proc = subprocess.Popen(command(args), stderr=subprocess.PIPE, text=True, bufsize=1)
    signal.signal(signal.SIGTERM, lambda signum, frame: proc.terminate())  # stopping make stops the server
    said = False
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            url = tour_url(line)
            if url and not said and "localhost" not in url:  # the server prints localhost, then 127.0.0.1
                threading.Thread(target=say_when_ready, args=(url,), daemon=True).start()
                said = True
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
