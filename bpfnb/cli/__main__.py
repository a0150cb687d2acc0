"""``python -m bpfnb.cli``: the same as the ``bpfnb`` command."""

import sys

from . import main

sys.exit(main())
