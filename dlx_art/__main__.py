import sys

from dlx_art.cli import main

sys.exit(main())
