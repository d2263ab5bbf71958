"""Which bone surface loses negative volume on a clinical grid: condyle or temporal bone?

    .venv/bin/python benchmarks/coarse_grid_sources.py [--seeds 2 4 7] [--grid 0.6x0.6x2]

For each seed, the CBCT-like crop of one joint (the left for even seeds, the right for odd;
mouth closed) is generated twice from the same geometry: on a 0.3 mm grid (its labels stand in
for the true shapes) and on the clinical ``--grid``. On the engine's fine grid (0.3 mm, where the
coarse labels are shape-interpolated, `engine.shape_interpolation`) the NV engine then measures
four label maps: both bones true (the 0.3 mm labels, nearest neighbour), the condyle
shape-interpolated from the clinical grid with the true temporal bone, the true condyle with the
interpolated temporal bone, and both interpolated. Each is compared with truth.json's NV (implicit
geometry, independent of the engine). The difference between rows says which surface's
interpolation costs the volume. Prints a table; asserts nothing.
"""

import argparse
import os
import sys

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib import labels as L  # noqa: E402
from NegativeVolumeSegmentationLib.engine import shape_interpolation  # noqa: E402
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume  # noqa: E402
from NegativeVolumeSegmentationLib.training import label_crops  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom  # noqa: E402

from clinical_grids import grid_of  # noqa: E402  (benchmarks/ is the script's own folder)

HALF_MM = np.array([16.0, 16.0, 16.0])   # region around the condyle centre (holds the joint)
ROWS = (("true condyle + true temporal bone", True, True),
        ("interpolated condyle + true temporal bone", False, True),
        ("true condyle + interpolated temporal bone", True, False),
        ("both interpolated", False, False))


def engine_nv(labels, side):
    """NV (mm^3) of ``side`` by the engine (confined mode, 10 mm), or None."""
    measured = measure_negative_volume(labels)   # the defaults (options.py)
    values = measured.sides.get(side)
    return None if values is None else values["negative_volume_mm3"]


def label_image(reference, condyle, temporal_bone, side):
    array = np.zeros(condyle.shape, np.uint8)
    array[temporal_bone] = L.TEMPORAL_BONE[side]
    array[condyle] = L.CONDYLE[side]
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def rows_for(seed, grid):
    side = L.LEFT if seed % 2 == 0 else L.RIGHT
    options = dict(fov="cbct-" + side, mouth="closed", nv_step_mm=0.4)
    fine = make_phantom("head", seed=seed, spacing=(0.3,) * 3, **options)
    coarse = make_phantom("head", seed=seed, spacing=grid, **options)
    truth = fine.truth[side]["negative_volume_mm3"]
    centre = fine.truth[side]["condyle_center_lps_mm"]
    coarse_roi = sitk.GetArrayFromImage(label_crops.roi_around(coarse.labels, centre, HALF_MM))
    reference = label_crops.roi_around(coarse.labels, centre, HALF_MM)
    fine_ref, interpolated = shape_interpolation.fine_masks(
        reference, (coarse_roi == L.CONDYLE[side], coarse_roi == L.TEMPORAL_BONE[side]))
    on_fine = sitk.GetArrayFromImage(sitk.Resample(
        label_crops.roi_around(fine.labels, centre, HALF_MM), fine_ref, sitk.Transform(),
        sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    true = (on_fine == L.CONDYLE[side], on_fine == L.TEMPORAL_BONE[side])
    out = []
    for name, true_mc, true_tb in ROWS:
        image = label_image(fine_ref, true[0] if true_mc else interpolated[0],
                            true[1] if true_tb else interpolated[1], side)
        nv = engine_nv(image, side)
        out.append((seed, side, name, truth, nv))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 4, 7])
    parser.add_argument("--grid", type=grid_of, default=(0.6, 0.6, 2.0))
    args = parser.parse_args(argv)
    print("clinical grid %s mm; NV against truth.json" % "x".join("%g" % v for v in args.grid))
    print("| seed | side | label map on the 0.3 mm grid | truth mm3 | NV mm3 | % |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        for seed_, side, name, truth, nv in rows_for(seed, args.grid):
            print("| %d | %s | %s | %.0f | %s | %s |" % (
                seed_, side, name, truth, "-" if nv is None else "%.0f" % nv,
                "-" if nv is None else "%+.1f" % (100.0 * (nv / truth - 1.0))), flush=True)


if __name__ == "__main__":
    main()
