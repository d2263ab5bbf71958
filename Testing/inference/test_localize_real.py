"""The bundled localiser on the real head CT of ../shared: both condyles found by the localiser
itself (no joint search, no mirror search), on the scan and on its mirror image.

Truth: the condyle centres of the VHF head (LPS mm), the centroids of condyle outlines that were
checked by eye on coronal, sagittal and axial slices (docs/results.md, docs/real_head_ct_nv.png);
a mirror image of the scan (array x flipped, geometry kept) has them at known mirrored points with
the sides swapped. The phantom-only localiser chose points 29-31 mm away (the coronoid region).
"""

import numpy as np
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.inference.localize import localize_joints
from NegativeVolumeSegmentationLib.inference.models import load_models

CONDYLES_LPS_MM = {"left": (298.2, 232.1, 1593.7), "right": (198.3, 227.9, 1594.6)}
WITHIN_MM = 8.0          # the 3 mm localiser's ball centre vs the condyle's centroid


def _mirror(image):
    """Array x flipped, geometry kept; and the map of a scan point to its mirrored point."""
    out = sitk.GetImageFromArray(sitk.GetArrayFromImage(image)[:, :, ::-1].copy())
    out.CopyInformation(image)
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3))
    centre_x = image.GetOrigin()[0] + 0.5 * (image.GetSize()[0] - 1) * image.GetSpacing()[0]
    return out, lambda p: (2 * centre_x - p[0], p[1], p[2])


def _distances(image, expected):
    net, meta = load_models(device="cpu").localizer
    located = localize_joints(image, net, meta)
    assert located.warnings == []
    return {side: float(np.linalg.norm(np.subtract(located.joints[side], expected[side])))
            for side in ("left", "right")}


def test_localiser_alone_finds_both_real_condyles(real_head_ct_path):
    found = _distances(sitk.ReadImage(real_head_ct_path), CONDYLES_LPS_MM)
    assert max(found.values()) <= WITHIN_MM, found


def test_localiser_alone_on_the_mirror_image_swaps_sides(real_head_ct_path):
    mirrored, to_mirror = _mirror(sitk.ReadImage(real_head_ct_path))
    expected = {"left": to_mirror(CONDYLES_LPS_MM["right"]), "right": to_mirror(CONDYLES_LPS_MM["left"])}
    found = _distances(mirrored, expected)
    assert max(found.values()) <= WITHIN_MM, found
