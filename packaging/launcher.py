"""Entry script of the frozen app (see build.spec): the same `dlx-art` command as from source."""

import sys

from dlx_art.cli import main

if __name__ == "__main__":
    sys.exit(main())
