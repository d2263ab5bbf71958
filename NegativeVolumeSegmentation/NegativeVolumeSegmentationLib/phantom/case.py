"""The generated case every phantom kind returns."""


class Phantom(object):
    """A generated case.

    Attributes:
        ct: SimpleITK int16 image in Hounsfield units (origin, spacing, direction set; LPS mm).
        labels: SimpleITK uint8 image on the CT grid, values 0-6 (docs/interfaces.md).
        truth: JSON-serialisable dict: ``kind``, ``seed``, ``parameters`` and, per side
            (``"left"``, ``"right"``; ``None`` when that joint is outside the field of view),
            ``negative_volume_mm3``, ``condyle_volume_mm3``, ``condyle_center_lps_mm``.
        exact: {side: :class:`.exact_joint.ExactJoint`} of the head phantom's measured joints
            (exact normals and rays in LPS mm, for diagnostics); empty for other kinds.
    """

    def __init__(self, ct, labels, truth, exact=None):
        self.ct = ct
        self.labels = labels
        self.truth = truth
        self.exact = exact or {}
