"""``python -m bpfnb``: the ``bpfnb`` command, for environments without its script on PATH."""

import sys

from .cli import main

sys.exit(main())
