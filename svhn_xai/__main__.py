"""``python -m svhn_xai``: see :mod:`svhn_xai.cli`."""

import sys

from svhn_xai.cli import run

sys.exit(run())
