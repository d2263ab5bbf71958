"""The 3D Slicer side (needs slicer / slicer-core): MRML conversion (LPS <-> RAS), the Logic that
writes segments, models and the table, the background run and the PyTorch probe.
"""
