"""The joint-space thickness colour scale, one for every picture: Slicer's thickness models,
report.png and the docs figures.

Thickness in mm (the inflation ray's length at a condyle surface point): red for a thin joint
space through yellow (1.5 mm) and green (3 mm) to blue (5 mm and more); grey where the ray met no
temporal bone (thickness 0). Fixed stops, so the same colour means the same millimetres on every
scan and in every picture. Standard library and numpy only (Slicer's Python imports it).
"""

import numpy as np

NO_CONTACT_RGB = (0.6, 0.6, 0.6)
# (mm, RGB 0-1), increasing; linear in between, clamped beyond the last stop
STOPS = ((0.05, (0.85, 0.1, 0.1)), (1.5, (0.95, 0.85, 0.1)), (3.0, (0.2, 0.75, 0.25)),
         (5.0, (0.15, 0.35, 0.9)))
MAX_MM = STOPS[-1][0]


def transfer_points():
    """(mm, RGB) points of a colour transfer function, grey at 0 first (Slicer, VTK)."""
    return ((0.0, NO_CONTACT_RGB),) + STOPS


def rgb(thickness_mm):
    """RGB 0-1 (N, 3) of thicknesses (N,) mm: grey where <= 0 (no contact), else the scale."""
    h = np.asarray(thickness_mm, float).reshape(-1)
    values = np.array([v for v, _ in STOPS])
    colours = np.array([c for _, c in STOPS])
    out = np.stack([np.interp(h, values, colours[:, k]) for k in range(3)], axis=1)
    out[~(h > 0)] = NO_CONTACT_RGB
    return out
