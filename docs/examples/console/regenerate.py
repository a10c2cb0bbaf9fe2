"""Regenerate the console screenshots in this folder (runs the browser test, keeps its shots).

    python docs/examples/console/regenerate.py        (Linux: .venv/bin/python …; Windows: py …)

Needs Debian's ``chromium`` (or SETTLEMENT_CHROMIUM=<path to a Chromium binary>) and the test
extra (``pip install -e ".[test]"``).
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

if __name__ == "__main__":
    env = {**os.environ, "SETTLEMENT_CONSOLE_SCREENSHOTS": str(HERE)}
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              str(ROOT / "tests" / "test_browser.py")], cwd=ROOT, env=env))
