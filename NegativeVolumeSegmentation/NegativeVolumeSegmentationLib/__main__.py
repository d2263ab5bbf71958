"""``python -m NegativeVolumeSegmentationLib`` is the same as ``nvseg``."""

import sys

from .cli import entry

sys.exit(entry())
