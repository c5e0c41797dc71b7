"""``python -m texgs`` and the ``texgs`` console script.

Ctrl-C while the command line starts up (importing Typer, rich, NumPy, PyTorch) would raise
KeyboardInterrupt inside an import and end in a traceback, or in an interpreter shutdown
that can wait on half-started thread pools. This entry point installs a handler first that
prints the interrupt line and leaves at once (nothing has been written yet); ``texgs.cli.main``
then restores Python's KeyboardInterrupt, so that work in progress unwinds and removes its
temporary files.
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED_LINE = b"texgs: interrupted; no partial output was written\n"


def interrupted_at_start(signum, frame) -> None:  # noqa: ARG001 - a signal handler
    os.write(2, INTERRUPTED_LINE)
    os._exit(130)


def main() -> int:
    signal.signal(signal.SIGINT, interrupted_at_start)
    from texgs.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
