"""A label map read for measuring (``nvseg negative-volume``): its sides checked before the engine.

The engine takes the patient's left/right from the label map's physical geometry (LPS: left is
+x) and, when the condyle labelled left (1) lies right of the one labelled right (2), swaps 1/3
with 2/4 (``engine/measure.py``). Two cases need a decision before that:

- A NIfTI file with qform_code = sform_code = 0 carries no orientation (ITK reads its stored axes
  as LPS), so the geometry cannot tell left from right. Alone, its label values are trusted: when
  the stored axes put label 1 right of label 2, the map is mirrored along x (through its grid's
  centre), so the engine keeps the values, and a warning says so. With a CT, it is placed on the
  CT's grid when it has the CT's size (it was drawn on it), and refused otherwise; the CT's axes
  then decide, unless the CT (a NIfTI file) carries no orientation either: then the label
  values decide as above, the CT mirrored with the labels so they meet voxel for voxel.
- Condyles and temporal bones labelled on opposite sides (1 and 2 exchanged, 3 and 4 not, or the
  reverse): each condyle is nearer the other side's temporal bone, and a swap would pair neither
  joint. Refused with one line (the labels must be corrected).
"""

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..engine.bone_pieces import join_cracked
from ..errors import InputError
from .ct import image_extension, read_ct
from .nifti_data import NO_ORIENTATION, unoriented_nifti
from .quiet import quiet_libraries
from .segmentation_files import read_label_map


def _centroids(image):
    """{label value: LPS centroid (mm)} of the condyles and temporal bones present."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputePerimeterOff()
    stats.Execute(image)
    present = set(stats.GetLabels())
    return dict((v, np.asarray(stats.GetCentroid(v))) for v in (1, 2, 3, 4) if v in present)


def check_pairing(image, name):
    """InputError when the condyles and temporal bones are labelled on opposite sides: each
    condyle nearer (centroid to centroid) the temporal bone of the other label's side."""
    c = _centroids(image)
    if len(c) < 4:
        return
    mc, tb = L.CONDYLE, L.TEMPORAL_BONE
    own = sum(np.linalg.norm(c[mc[s]] - c[tb[s]]) for s in L.SIDES)
    crossed = sum(np.linalg.norm(c[mc[s]] - c[tb[L.other_side(s)]]) for s in L.SIDES)
    if crossed < own:
        raise InputError("%s: the condyles and temporal bones are labelled on opposite sides: the "
                         "condyle labelled left (1) lies by the temporal bone labelled right (4) "
                         "and the condyle labelled right (2) by the one labelled left (3); "
                         "relabel so that 1 and 3 are one joint, 2 and 4 the other" % name)


SPECK_FRACTION = 0.05   # a condyle label's piece under this x its largest is a speck
CONDYLE_MAX_SPAN_MM = 50.0   # a condyle label's largest piece spanning more (any axis) is not
#                         a condyle: a condylar head is 15-25 mm across, the MC 15 mm tall; a
#                         user's MC with the whole ramus ~50 mm (the maxilla 60+, a mandible 80+)
TWO_CONDYLES_MM = 50.0  # two large pieces of one condyle label this far apart: both joints
#                         (condyle to condyle 75-130 mm; one condyle is ~20 mm across)


def without_condyle_specks(image, name, warnings):
    """``image`` with the specks of each condyle label (26-connected pieces under
    SPECK_FRACTION of the label's largest piece) cleared, a warning per label saying how many
    voxels went: the engine's surfaces ignore them anyway, but the gate read a stray voxel 53 mm
    away as the condyle's extent ("the field of view ends within 5 mm of the condylar head").
    Larger pieces stay, and so does any piece a gap of a voxel or two from the largest
    (:func:`.engine.bone_pieces.join_cracked`: the condyle's top cut off by a skipped slice)."""
    from scipy import ndimage

    array = sitk.GetArrayFromImage(image)
    changed = False
    for side in L.SIDES:
        where = ndimage.find_objects((array == L.CONDYLE[side]).astype(np.uint8))
        if not where or where[0] is None:
            continue
        box = where[0]   # labelled in its box only (real head labels: 1.0 s -> 0.17 s)
        mask = array[box] == L.CONDYLE[side]
        pieces, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
        sizes = np.bincount(pieces.ravel())[1:]
        _refuse_not_a_condyle(image, pieces == np.argmax(sizes) + 1, L.CONDYLE[side], name)
        if count <= 1:
            continue
        _refuse_two_condyles(image, pieces, sizes, L.CONDYLE[side], name,
                             [b.start for b in box])
        small = np.nonzero(sizes < SPECK_FRACTION * sizes.max())[0] + 1
        # a piece a crack's width away is the condyle's (its top cut off by a skipped slice)
        small = np.setdiff1d(small, np.unique(pieces[join_cracked(mask, image.GetSpacing())]))
        if len(small) == 0:
            continue
        array[box][np.isin(pieces, small)] = 0
        changed = True
        warnings.append("%s: %d voxel(s) of label %d (%s) apart from the condyle ignored (%d "
                        "piece(s))" % (name, int(sizes[small - 1].sum()), L.CONDYLE[side],
                                       L.BY_VALUE[L.CONDYLE[side]].name.lower(), len(small)))
    if not changed:
        return image
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    return out


def _refuse_not_a_condyle(image, largest, value, name):
    """InputError when the condyle label ``value``'s largest piece (mask ``largest``, on
    ``image``'s grid in its box) spans more than CONDYLE_MAX_SPAN_MM along an axis of the grid:
    a map of other structures (a dental map's maxilla or mandible as 1 / 2) was measured as
    condyles, each side then refused for reasons that contradicted each other."""
    span = []
    for k in range(3):   # array axis k (z, y, x): its voxels' extent in mm
        along = np.flatnonzero(largest.any(axis=tuple(a for a in range(3) if a != k)))
        span.append((np.ptp(along) + 1) * image.GetSpacing()[2 - k])
    if max(span) > CONDYLE_MAX_SPAN_MM:
        raise InputError("%s: label %d (%s) spans %.0f mm (a condyle is 15-25 mm across): not a "
                         "label map of condyles and temporal bones (values 1-4, docs/"
                         "interfaces.md)" % (name, value, L.BY_VALUE[value].name.lower(),
                                             max(span)))


def _refuse_two_condyles(image, pieces, sizes, value, name, offset):
    """InputError when condyle label ``value`` holds two pieces of at least a quarter of its
    largest whose centres lie TWO_CONDYLES_MM apart: both joints labelled alike (the engine
    said only "no ray meets the temporal bone"). ``pieces``: the labelled pieces in a box of
    ``image``'s array starting at (z, y, x) index ``offset``."""
    big = np.nonzero(sizes >= 0.25 * sizes.max())[0] + 1
    if len(big) < 2:
        return
    centres = np.array([image.TransformContinuousIndexToPhysicalPoint(
        [float(v) for v in (np.argwhere(pieces == n).mean(axis=0) + offset)[::-1]])
        for n in big])
    apart = max(np.linalg.norm(a - b) for a in centres for b in centres)
    if apart >= TWO_CONDYLES_MM:
        other = L.CONDYLE[L.RIGHT] if value == L.CONDYLE[L.LEFT] else L.CONDYLE[L.LEFT]
        raise InputError("%s: label %d holds two condyles %.0f mm apart; label one joint %d / "
                         "%d, the other %d / %d (condyle / temporal bone, the patient's left "
                         "1 / 3)" % (name, value, apart, value, value + 2, other, other + 2))


def mirror_x(image):
    """Mirror ``image``'s geometry along LPS x through its grid's centre (in place): every voxel
    keeps its value, its physical x is reflected, the grid's bounding box stays."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    centre = image.TransformContinuousIndexToPhysicalPoint(
        [(n - 1) / 2.0 for n in image.GetSize()])
    origin = np.asarray(image.GetOrigin(), float)
    origin[0] = 2.0 * centre[0] - origin[0]
    direction[0, :] *= -1.0
    image.SetDirection(direction.ravel().tolist())
    image.SetOrigin(origin.tolist())
    return image


def _ct_grid(ct_path, warnings):
    """(the CT's 3D grid as an empty image, the CT for the pipeline: ``ct_path`` or the image).
    An oriented CT file gives its header alone; a CT without orientation or a DICOM folder is
    read (:func:`.ct.read_ct`: its warnings appended, the image passed on, not read twice)."""
    if image_extension(ct_path) is not None and not unoriented_nifti(ct_path):
        reader = sitk.ImageFileReader()
        reader.SetFileName(ct_path)
        try:
            with quiet_libraries():
                reader.ReadImageInformation()
        except RuntimeError:
            reader = None   # read_ct below says why
        if reader is not None and reader.GetDimension() >= 3:
            dim = reader.GetDimension()
            grid = sitk.Image([int(n) for n in reader.GetSize()[:3]], sitk.sitkUInt8)
            grid.SetSpacing(reader.GetSpacing()[:3])
            grid.SetOrigin(reader.GetOrigin()[:3])
            grid.SetDirection(np.asarray(reader.GetDirection(), float).reshape(dim, dim)[:3, :3]
                              .ravel().tolist())
            return grid, ct_path
    ct, ct_warnings = read_ct(ct_path)
    warnings.extend(ct_warnings)
    return ct, ct


def _unoriented(image, name, ct_path, warnings):
    """(label map, CT) of a label map whose file carries no orientation (module docstring)."""
    ct = ct_path
    if ct_path is not None:
        ct_unknown = unoriented_nifti(str(ct_path))
        own = [] if ct_unknown else warnings   # a CT without orientation: said once, below
        grid, ct = _ct_grid(ct_path, own)
        if ct_unknown:
            warnings.extend(w for w in own if not w.startswith(NO_ORIENTATION % ct_path))
        if tuple(grid.GetSize()) != tuple(image.GetSize()):
            raise InputError((NO_ORIENTATION + " and its grid (%s voxels) is not the CT's (%s): it "
                              "cannot be placed on the CT; save it with the CT's geometry")
                             % (name, "x".join(map(str, image.GetSize())),
                                "x".join(map(str, grid.GetSize()))))
        image.CopyInformation(grid)
        if not ct_unknown:
            warnings.append((NO_ORIENTATION + ": placed on the CT's grid (same size), whose axes "
                             "decide the patient's left/right") % name)
            return image, ct
    c = _centroids(image)
    mirrored = (L.CONDYLE[L.LEFT] in c and L.CONDYLE[L.RIGHT] in c
                and c[L.CONDYLE[L.LEFT]][0] < c[L.CONDYLE[L.RIGHT]][0])
    if mirrored:
        mirror_x(image)
        if ct is not ct_path:
            mirror_x(ct)
    warnings.append((NO_ORIENTATION + "%s: the patient's left/right are taken from its label "
                     "values (1 and 3 left, 2 and 4 right)%s")
                    % (name, "" if ct is None else ", nor does the CT (same size: its grid taken)",
                       ", so the outputs are mirrored along x against the stored axes"
                       if mirrored else ""))
    return image, ct


def read_labels_for_measuring(path, ct_path=None, warnings=None):
    """(label map, CT) to measure: :func:`.segmentation_files.read_label_map` of ``path``, its
    sides decided (a file without orientation), see the module docstring; the pairing
    (:func:`check_pairing`) is checked by :func:`..pipeline.measure_labels` on every route.
    ``ct_path``: the CT the labels belong to, or None; the CT returned is ``ct_path`` itself,
    or the CT read (with its warnings) when the label map's placement needed its voxels.
    ``warnings``: a list the reads' warnings are appended to. InputError (one line) for a
    refused map."""
    warnings = [] if warnings is None else warnings
    image, ct = read_label_map(path, warnings), ct_path
    if unoriented_nifti(str(path)):
        image, ct = _unoriented(image, str(path), ct_path, warnings)
    return image, ct
