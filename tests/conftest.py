"""Test-wide set-up: the processes the tests start import this checkout's code.

The gateway, the CLI and the benchmark helpers run as subprocesses with their own
working directory; with the checkout first on ``PYTHONPATH`` they import the code under
test rather than whatever copy of ``proxy`` happens to be installed.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
)
