"""Real joint shapes for training: our MC/TB labels from the real-anatomy label map of ../shared.

``../shared/data/real/dental_cbct_labels.nii.gz`` (read its README) is the automatic segmentation of
a real dental CBCT (0.5 mm, identity direction, values: 1 maxilla and upper skull with the temporal
bone, 2 mandible with both condyles, 3 upper teeth, 4 lower teeth, 5 mandibular canal). It has no
image; :mod:`.synth_ct` renders CT-like images from it for training, and docs/scripts/real_anatomy_nv.py
measures the negative volume on it.

How MC and TB are derived (all lengths mm, LPS, +x = the patient's left):
- MC: the mandible above a plane ``CONDYLE_DEPTH_MM`` below the condyle top and within
  ``CONDYLE_RADIUS_MM`` of it horizontally, the component holding the top, holes filled. The condyle
  top is the highest voxel of the posterior of the two pieces the ramus makes above (its highest
  point - ``NOTCH_DEPTH_MM``): the anterior piece is the coronoid process, which is often higher.
- TB: skull bone (value 1) within ``TB_RADIUS_MM`` of the condylar head's centre (the centroid of
  the top ``HEAD_MM`` of the MC).

Orientation (checked by eye on projections and slices of every axis, asserted in
:func:`check_orientation`): no axis needs flipping. +z is superior (skull above mandible, upper
teeth above lower), +y posterior (teeth and chin at y 66-163, condyles at y 200-234). The map carries
no side marker, so the patient's side is taken from the geometry (+x = left); a wrong x would only
swap the names of the two joints.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L

SKULL, MANDIBLE, UPPER_TEETH, LOWER_TEETH, CANAL = 1, 2, 3, 4, 5   # values of the dental map
# the labels' own definitions (labels.py), so the real shapes are cut as the pipeline cuts:
CONDYLE_DEPTH_MM = L.CONDYLE_DEPTH_MM    # MC = mandible above the plane this far below
CONDYLE_RADIUS_MM = 15.0             # ... the top and within this horizontally of the condyle top
NOTCH_DEPTH_MM = 10.0                # the ramus above (highest point - this) splits in two
HEAD_MM = L.HEAD_CENTRE_DEPTH_MM              # condylar head = the MC's top (its centroid)
TB_RADIUS_MM = L.TEMPORAL_BONE_RADIUS_MM  # TB = skull bone within this of that centre
MARGIN_MM = 12.0                     # the label map is cropped to labels 1-4 plus this


def check_orientation(lab):
    """Assert what was seen by eye (module docstring); ``lab`` is the [z, y, x] array."""
    cz = {v: np.nonzero((lab == v).any(axis=(1, 2)))[0] for v in (1, 2, 3, 4)}
    mean_z = {v: ndimage.center_of_mass(lab == v)[0] for v in (1, 2, 3, 4)}
    mean_y = {v: ndimage.center_of_mass(lab == v)[1] for v in (1, 2, 3, 4)}
    assert mean_z[SKULL] > mean_z[MANDIBLE], "skull not above the mandible: z flipped"
    assert mean_z[3] > mean_z[4], "upper teeth not above lower teeth: z flipped"
    assert cz[MANDIBLE].min() < cz[4].min(), "chin not at the mandible's bottom"
    assert mean_y[3] < mean_y[MANDIBLE] and mean_y[4] < mean_y[MANDIBLE], \
        "teeth not anterior (lower y) of the mandible's centroid: y flipped"


def find_condyle_top(mandible_half):
    """(z, y, x) index of the condyle top in one half of the mandible: the highest voxel of the
    posterior one of the pieces the ramus makes above (its highest point - NOTCH_DEPTH_MM)
    (the coronoid process is the anterior piece and is often higher)."""
    top = np.nonzero(mandible_half.any(axis=(1, 2)))[0].max()
    upper = mandible_half.copy()
    upper[:top - int(round(NOTCH_DEPTH_MM / 0.5))] = False
    pieces, n = ndimage.label(upper, np.ones((3, 3, 3), bool))
    sizes = ndimage.sum(upper, pieces, range(1, n + 1))
    big = [i + 1 for i in range(n) if sizes[i] >= 0.05 * sizes.max()]
    posterior = max(big, key=lambda i: np.nonzero(pieces == i)[1].mean())
    zz, yy, xx = np.nonzero(pieces == posterior)
    k = zz == zz.max()
    return zz.max(), yy[k].mean(), xx[k].mean()


def build_labels(image):
    """Our MC/TB label map (1/2 left/right MC, 3/4 TB; LPS, +x = patient's left) from the dental
    label map ``image`` (SimpleITK, identity direction), cropped to labels 1-4 + MARGIN_MM.
    Returns (label image, {side: condyle top (x, y, z) LPS mm})."""
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3)), "identity expected"
    lab = sitk.GetArrayViewFromImage(image)
    sp = np.array(image.GetSpacing())[::-1]          # z, y, x
    org = np.array(image.GetOrigin())[::-1]
    assert np.allclose(sp, 0.5), "the notch depth assumes 0.5 mm voxels"
    check_orientation(lab)
    mandible = lab == MANDIBLE
    skull = lab == SKULL
    mid_x = np.nonzero(mandible)[2].mean()
    x_index = np.broadcast_to(np.arange(lab.shape[2])[None, None, :], lab.shape)
    out = np.zeros(lab.shape, np.uint8)
    tops = {}
    for side, half, mc_value, tb_value in (("left", x_index > mid_x, 1, 3),
                                           ("right", x_index < mid_x, 2, 4)):
        tz, ty, tx = find_condyle_top(mandible & half)
        r = [int(np.ceil(TB_RADIUS_MM / s)) + 2 for s in sp]
        lo = [max(0, int(c) - ri) for c, ri in zip((tz, ty, tx), r)]
        hi = [min(n, int(c) + ri + 1) for c, ri, n in zip((tz, ty, tx), r, lab.shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        zz, yy, xx = np.meshgrid(*[(np.arange(a, b)) * s for a, b, s in zip(lo, hi, sp)],
                                 indexing="ij")
        horizontal = np.hypot(yy - ty * sp[1], xx - tx * sp[2])
        mc = mandible[box] & half[box] & (zz >= tz * sp[0] - CONDYLE_DEPTH_MM) \
            & (horizontal <= CONDYLE_RADIUS_MM)
        pieces, _ = ndimage.label(mc, np.ones((3, 3, 3), bool))
        mc = pieces == pieces[tz - lo[0], int(round(ty)) - lo[1], int(round(tx)) - lo[2]]
        mc = ndimage.binary_fill_holes(mc)
        head = np.array([c[mc & (zz >= tz * sp[0] - HEAD_MM)].mean() for c in (zz, yy, xx)])
        tb = skull[box] & ~mc & (np.sqrt((zz - head[0]) ** 2 + (yy - head[1]) ** 2
                                         + (xx - head[2]) ** 2) <= TB_RADIUS_MM)
        view = out[box]
        view[mc] = mc_value
        view[tb & (view == 0)] = tb_value
        tops[side] = [float(v) for v in (org[::-1] + np.array([tx, ty, tz]) * sp[::-1])]
    full = sitk.GetImageFromArray(out)
    full.CopyInformation(image)
    return crop_to_labels(full, MARGIN_MM), tops


def label_box(image, margin_mm):
    """(index, size) (x, y, z voxels) of the bounding box of ``image``'s non-zero voxels plus
    ``margin_mm``, clipped to the image."""
    arr = sitk.GetArrayViewFromImage(image)
    nz = np.nonzero(arr)
    sp = np.array(image.GetSpacing())[::-1]
    lo = [max(0, int(i.min() - margin_mm / s)) for i, s in zip(nz, sp)]
    hi = [min(n, int(i.max() + margin_mm / s) + 1) for i, n, s in zip(nz, arr.shape, sp)]
    return lo[::-1], [b - a for a, b in zip(lo, hi)][::-1]


def crop_to_labels(image, margin_mm):
    """The image cropped to the bounding box of its non-zero voxels plus ``margin_mm``."""
    index, size = label_box(image, margin_mm)
    return sitk.RegionOfInterest(image, size, index)


def tissues_and_labels(image):
    """(tissues, labels, tops) of the dental label map ``image`` on one cropped grid: ``tissues``
    keeps the map's own values (module constants: skull, mandible, teeth, canal) and ``labels`` holds
    our MC/TB values (docs/interfaces.md), both cropped to our labels + MARGIN_MM."""
    labels, tops = build_labels(image)
    index = image.TransformPhysicalPointToIndex(labels.GetOrigin())
    tissues = sitk.RegionOfInterest(image, labels.GetSize(), index)
    return tissues, labels, tops
