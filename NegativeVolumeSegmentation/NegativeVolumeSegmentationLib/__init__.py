"""NegativeVolumeSegmentation library: TMJ negative volume (joint space) from head CT.

Importable without 3D Slicer. Everything works in physical space: images are SimpleITK images
carrying origin, spacing and direction; points are LPS millimetres (DICOM/ITK convention: +x is
the patient's left, +y posterior, +z superior).

Data path: ct_io (read, check) -> localize -> segment -> surfaces -> inflate -> joint_space
-> negative_volume (per joint) -> report.
"""

__version__ = "0.1.0"
