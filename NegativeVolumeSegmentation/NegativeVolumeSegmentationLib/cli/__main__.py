"""``python -m NegativeVolumeSegmentationLib.cli``: the ``nvseg`` command (used by the Slicer
module's background run, where no ``nvseg`` script is installed)."""

import sys

from . import entry

sys.exit(entry())
