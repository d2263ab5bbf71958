"""Label values, segment names and colours: the contract of docs/interfaces.md.

Left / right are the patient's, decided from physical geometry (LPS: the patient's left is +x).
"""

from collections import namedtuple

Segment = namedtuple("Segment", "value name color structure side")

LEFT = "left"
RIGHT = "right"
SIDES = (LEFT, RIGHT)

SEGMENTS = (
    Segment(1, "Left mandibular condyle", (0.90, 0.85, 0.55), "condyle", LEFT),
    Segment(2, "Right mandibular condyle", (0.90, 0.70, 0.40), "condyle", RIGHT),
    Segment(3, "Left temporal bone", (0.55, 0.70, 0.90), "temporal_bone", LEFT),
    Segment(4, "Right temporal bone", (0.40, 0.55, 0.85), "temporal_bone", RIGHT),
    Segment(5, "Left negative volume", (0.30, 0.85, 0.35), "negative_volume", LEFT),
    Segment(6, "Right negative volume", (0.95, 0.35, 0.30), "negative_volume", RIGHT),
)

CONDYLE = {LEFT: 1, RIGHT: 2}
TEMPORAL_BONE = {LEFT: 3, RIGHT: 4}
NEGATIVE_VOLUME = {LEFT: 5, RIGHT: 6}

BY_VALUE = {s.value: s for s in SEGMENTS}

# The labels' extent (docs/method.md "Labels"), one definition for the networks' training labels
# (phantom/, training/real_shapes.py), the pipeline's post-processing (inference/postprocess.py,
# fine_masks.py) and the checks that read the condylar head (field of view, metal, mode bounded).
# Lengths in mm along the patient's superior axis (LPS z) or in space.
CONDYLE_DEPTH_MM = 15.0          # MC = the mandible above the plane this far below the condyle's top
TEMPORAL_BONE_RADIUS_MM = 25.0   # TB = skull bone within this of the condylar head's centre ...
HEAD_CENTRE_DEPTH_MM = 8.0       # ... the centroid of the MC's top this deep (the phantoms: the
                                 # drawn head's centre)
CONDYLAR_HEAD_MM = 10.0          # the condylar head (the rest of the MC is neck): its poles, its
                                 # margins to the image's border, metal inside it


def matching_name(text):
    """A segment name as it is matched, in files and in Slicer alike: lower case, underscores
    as spaces, whitespace runs as one ("left_Mandibular  condyle" is "Left mandibular
    condyle")."""
    return " ".join(str(text).replace("_", " ").split()).lower()


def other_side(side):
    """The opposite side name."""
    return RIGHT if side == LEFT else LEFT
