"""Entry script of the frozen app (see build.spec): the same `dlx-art` command as from source."""

import multiprocessing
import sys

from dlx_art.cli import main

if __name__ == "__main__":
    # Large imports run worker processes: in a frozen app they start as this same executable,
    # and freeze_support() turns such a start into the worker instead of a second app.
    multiprocessing.freeze_support()
    sys.exit(main())
