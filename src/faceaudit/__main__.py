"""``python -m faceaudit ...``: the same command line as the ``faceaudit`` script."""

import sys

from faceaudit._cli import main

if __name__ == "__main__":
    sys.exit(main())
