"""Real-CT probes: the whole pipeline on copies of one real head CT that a user's data may look
like, each against the untouched scan (no anatomical transform, so the same joints must give
the same numbers or a clear reason why not):

- ``translated``: the origin moved by (5000, -3000, -3000) mm (where a scanner's table puts
  the head does not matter);
- ``fov_pad_-3024`` / ``fov_pad_-2048``: the voxels outside the largest axial circle set to the
  padding value some scanners write outside their reconstruction circle;
- ``fov_pad_nan``: the same with NaN (float32): refused with one line;
- ``circle_cut_left``: -3024 outside an axial circle centred 30 mm to the right of the
  condyles' midpoint whose edge cuts the left condyle 6 mm lateral of its centre (a
  reconstruction circle off the head's centre): the left side "not measurable" (before: NV
  -11 .. -22 % with no word), the right as untouched;
- ``float64``: the same voxels as 64-bit floats;
- ``one_joint_left`` / ``one_joint_right``: the same voxels within 80 x 80 x 64 mm around one
  condyle (a small-field TMJ CBCT): that joint measured, the other "not measurable";
- ``cbct_<mm>``: a 160 x 120 x 90 mm field of view around both joints resampled (linear) to
  <mm> isotropic voxels (a large-field CBCT; at <= 0.3 mm the engine measures on the scan's own
  grid instead of its 0.3 mm grid);
- ``fov_top_<mm>``: the axial slices from 40 mm below to <mm> above the condyles' mean centre
  (a scan framed tightly on the joints): the field of view ends 5-14 mm above the condylar heads;
- ``scaled_<s>``: the same voxels with their spacing multiplied by <s> about the head's centre (a
  smaller or larger head, exactly, no resampling); its volumes are compared with the untouched
  scan's times s^3 and its joint spaces, divided by s, with the untouched scan's: a measure that
  follows the anatomy reads +0.0 %, one defined by fixed lengths in mm does not (the condyle's
  lower cut 15 mm below its top, the rays' 10 mm reach);
- ``turned_180``: the same voxels, the header turned 180 degrees about the vertical axis
  through the head's centre (a prone scan labelled supine: the face points posterior, the
  patient's left lies at the header's right): both sides "not measurable" (the sides cannot be
  told), no numbers under swapped names;
- ``fov_bottom_<mm>``: the axial slices from <mm> below the condyles' mean centre to the top of
  the scan (a skull-base or temporal-bone protocol beginning just under the joints);
- ``bone_<f>``, ``sharp_<a>``, ``offset_<hu>``, ``motion_<mm>``: the bone's HU above 100 scaled
  by <f>, a sharper kernel (unsharp masking by <a>), every value moved by <hu>, the slices above
  the condyles' centre moved <mm> anteriorly (a patient who moved during the scan);
  ``cupping_<c>``, ``rings_<hu>``, ``noise_<hu>``: a CBCT's shading, ring artefacts, low-dose
  noise (``_intensity_probe``);
- ``blanked_<side>``: the tissue of the slices through one joint set to 0 HU on its side (a
  joint lost from the scan): that side not measurable, the other measured as in the untouched
  scan (in the head's own left-right axis);
- ``slices_<mm>_<linear|bspline>``: the scan made of slices <mm> thick, <mm> apart (a boxcar
  across the 1 mm slices), resampled back onto its own grid (a thick-slice series exported as an
  "isotropic" volume: the grid says 1 mm, the detail is the thick slices'); ``thick_<mm>``: slices
  <mm> thick on the scan's own 1 mm grid (overlapping reconstruction, no resampling);
- ``interpolated_<n>``, ``copied_<n>``, ``noise_<side>_<hu>`` (benchmarks/scan_artifacts.py):
  <n> slices at the condyles' top interpolated or copied from their neighbours (a series with
  slices missing, its gap filled by the loader); low-dose noise around one joint;
- ``metal_*`` (benchmarks/metal_artifacts.py: metal and its streaks): ``metal_fillings``, amalgam
  in the molars 41 mm below the joints; ``metal_plate_left_<mm>``, a titanium miniplate with two
  screws on the left condylar neck, from <mm> to <mm> + 18 below the condyle's centre (numbers
  kept, a caution); ``metal_prosthesis_left``, the left condyle resected and replaced by a metal
  head and stem (that side not measurable, the right one measured); ``metal_fossa_left``, the
  lower face of the left fossa roof made metal (a metal-backed fossa component);
- ``<probe>+<probe>``: the probes applied in turn (``bone_1.25+metal_prosthesis_left``: a metal
  condyle in a head of dense bone).

    .venv/bin/python benchmarks/real_ct_probes.py [CT] [--probes translated,float64]

Prints one table; asserts nothing (tests: Testing/inference/test_pipeline_real_head.py).
"""

import argparse
import os
import re
import sys
import time

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct_variants import head_mask_stats  # noqa: E402
import scan_artifacts  # noqa: E402
from real_ct_invariance import DEFAULT_CT, REPO, SIDES, percent, run_pipeline  # noqa: E402

ONE_JOINT_FOV_MM = (80.0, 80.0, 64.0)
CBCT_FOV_MM = (160.0, 120.0, 90.0)
CBCT_BELOW_MM = 50.0   # the CBCT box reaches this far below the condyles (the rest above)
PROBES = ("translated", "fov_pad_-3024", "fov_pad_-2048", "fov_pad_nan", "circle_cut_left",
          "float64", "one_joint_left", "one_joint_right", "cbct_0.5", "cbct_0.3", "cbct_0.25",
          "scaled_0.85", "scaled_0.92", "scaled_1.08", "fov_top_15", "fov_top_17", "fov_top_20",
          "fov_top_22", "fov_bottom_10", "fov_bottom_15", "fov_bottom_20", "bone_0.6", "bone_1.25",
          "sharp_1", "offset_-60", "offset_+60", "motion_1", "motion_2", "metal_fillings",
          "metal_fossa_left", "metal_plate_left_10", "metal_plate_left_2",
          "metal_prosthesis_left", "cupping_0.1", "cupping_0.2", "rings_50", "rings_100",
          "noise_80", "noise_150", "slices_2_linear", "slices_3_linear", "slices_4_linear",
          "slices_5_linear", "slices_6_linear", "slices_3_bspline", "slices_5_bspline", "thick_2",
          "thick_3", "thick_4", "thick_5", "blanked_left", "turned_180", "interpolated_1",
          "interpolated_2", "interpolated_3", "interpolated_4", "copied_1", "copied_2",
          "noise_200", "noise_250", "noise_right_200")
PLATE_MM = 18.0         # metal_plate_left_<mm>: the plate's length along the neck
PROSTHESIS_TOP_MM = 8.0  # the metal head's top above the condyle's centre (the real head's left
                         # condyle: its top 8.5 mm above the centre of its 15 mm cut)
FOV_BELOW_MM = 40.0   # fov_top_<mm>: the slab reaches this far below the condyles' mean centre


def probe_scale(name):
    """The length factor of a ``scaled_<s>`` probe, 1.0 for the others."""
    return float(name[len("scaled_"):]) if name.startswith("scaled_") else 1.0


def _copy(array, like):
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(like)
    return out


def outside_axial_circle(image):
    """(y, x) boolean mask of the pixels outside the largest circle inscribed in a slice."""
    ny, nx = image.GetSize()[1], image.GetSize()[0]
    yy, xx = np.mgrid[0:ny, 0:nx]
    return np.hypot(yy - (ny - 1) / 2.0, xx - (nx - 1) / 2.0) > min(nx, ny) / 2.0


def box_around(image, centre_lps, size_mm, spacing=None):
    """``image`` within a box of ``size_mm`` (x, y, z, along its axes) centred on ``centre_lps``:
    the same voxels (RegionOfInterest) when ``spacing`` is None, else linear resampling onto
    isotropic ``spacing`` mm voxels (air outside the scan)."""
    if spacing is None:
        centre = image.TransformPhysicalPointToIndex([float(v) for v in centre_lps])
        half = [int(round(s / (2.0 * sp))) for s, sp in zip(size_mm, image.GetSpacing())]
        lo = [max(0, c - h) for c, h in zip(centre, half)]
        hi = [min(n, c + h) for c, h, n in zip(centre, half, image.GetSize())]
        return sitk.RegionOfInterest(image, [b - a for a, b in zip(lo, hi)], lo)
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    size = [int(round(s / spacing)) for s in size_mm]
    corner = np.asarray(centre_lps, float) + d @ (0.5 * (spacing - np.asarray(size_mm)))
    return sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, [float(v) for v in corner],
                         (float(spacing),) * 3, image.GetDirection(), -1024.0, image.GetPixelID())


def slab_between(image, z_low, z_high):
    """The same voxels whose centres lie between LPS z ``z_low`` and ``z_high`` (mm); the scan
    stored with its slices along LPS z (direction identity)."""
    if not np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3)):
        raise ValueError("fov_top needs a scan stored in LPS order")
    z0, dz, n = image.GetOrigin()[2], image.GetSpacing()[2], image.GetSize()[2]
    k0 = max(0, int(np.ceil((z_low - z0) / dz)))
    k1 = min(n, int(np.floor((z_high - z0) / dz)) + 1)
    return sitk.RegionOfInterest(image, [image.GetSize()[0], image.GetSize()[1], k1 - k0],
                                 [0, 0, k0])


def probe_parts(name):
    """The probes a name applies in turn: split at each '+' that begins a name, not at a sign
    (``offset_+60`` is one probe, ``bone_1.25+metal_prosthesis_left`` two)."""
    return re.split(r"\+(?=[a-z])", name)


def build_probe(scan, name, reference):
    parts = probe_parts(name)
    if len(parts) > 1:   # probes applied in turn, e.g. bone_1.25+metal_prosthesis_left
        for part in parts:
            scan = build_probe(scan, part, reference)
        return scan
    if name == "translated":
        out = sitk.Image(scan)
        out.SetOrigin([float(o + t) for o, t in zip(scan.GetOrigin(), (5000.0, -3000.0, -3000.0))])
        return out
    if name.startswith("fov_pad_"):
        value = float(name[len("fov_pad_"):])
        array = sitk.GetArrayFromImage(scan).astype(np.float32 if np.isnan(value) else
                                                   sitk.GetArrayViewFromImage(scan).dtype)
        array[:, outside_axial_circle(scan)] = value
        return _copy(array, scan)
    if name == "circle_cut_left":
        left, right = (np.asarray(reference[side]["condyle_center_lps_mm"], float)
                       for side in ("left", "right"))
        centre = 0.5 * (left + right) - np.array([30.0, 0.0, 0.0])   # LPS +x: the left
        radius = left[0] - centre[0] + 6.0
        array = sitk.GetArrayFromImage(scan)
        index = np.indices(array.shape[1:])   # (y, x) of a slice; the scan stored in LPS order
        x = scan.GetOrigin()[0] + index[1] * scan.GetSpacing()[0]
        y = scan.GetOrigin()[1] + index[0] * scan.GetSpacing()[1]
        array[:, np.hypot(x - centre[0], y - centre[1]) > radius] = -3024
        return _copy(array, scan)
    if name == "float64":
        return _copy(sitk.GetArrayFromImage(scan).astype(np.float64), scan)
    if name.startswith("one_joint_"):
        side = name[len("one_joint_"):]
        return box_around(scan, reference[side]["condyle_center_lps_mm"], ONE_JOINT_FOV_MM)
    if name.startswith("cbct_"):
        centres = np.array([reference[s]["condyle_center_lps_mm"] for s in SIDES])
        centre = centres.mean(axis=0)
        centre[2] += CBCT_FOV_MM[2] / 2.0 - CBCT_BELOW_MM
        return box_around(scan, centre, CBCT_FOV_MM, float(name[len("cbct_"):]))
    if name.startswith("fov_bottom_"):
        centre = np.mean([reference[s]["condyle_center_lps_mm"] for s in SIDES], axis=0)
        top = scan.GetOrigin()[2] + scan.GetSpacing()[2] * scan.GetSize()[2]
        return slab_between(scan, centre[2] - float(name[len("fov_bottom_"):]), top)
    if name.startswith("fov_top_"):
        centre = np.mean([reference[s]["condyle_center_lps_mm"] for s in SIDES], axis=0)
        return slab_between(scan, centre[2] - FOV_BELOW_MM, centre[2] + float(name[8:]))
    if name.startswith("scaled_"):
        factor, centre = probe_scale(name), head_mask_stats(scan)[0]
        out = sitk.Image(scan)
        out.SetSpacing([float(v) * factor for v in scan.GetSpacing()])
        out.SetOrigin([float(v) for v in centre + factor * (np.asarray(scan.GetOrigin()) - centre)])
        return out
    if name == "turned_180":
        turn, centre = np.diag([-1.0, -1.0, 1.0]), head_mask_stats(scan)[0]
        out = sitk.Image(scan)
        out.SetOrigin([float(v) for v in centre + turn @ (np.asarray(scan.GetOrigin()) - centre)])
        out.SetDirection([float(v) for v in
                          (turn @ np.reshape(scan.GetDirection(), (3, 3))).ravel()])
        return out
    if name.startswith("metal_"):
        return _metal_probe(scan, name, reference)
    if name.startswith("blanked_"):
        return blanked_joint(scan, name[len("blanked_"):], reference)
    if name.startswith(("interpolated_", "copied_")):
        how, count = name.split("_")
        return scan_artifacts.made_slices(
            scan, [reference[s]["condyle_center_lps_mm"] for s in SIDES], int(count), how)
    if name.startswith(("noise_left_", "noise_right_")):
        _noise, side, hu = name.split("_")
        return scan_artifacts.joint_noise(scan, reference[side]["condyle_center_lps_mm"],
                                          float(hu))
    if name.startswith(("bone_", "sharp_", "offset_", "motion_", "cupping_", "rings_", "noise_")):
        return _intensity_probe(scan, name, reference)
    if name.startswith(("slices_", "thick_")):
        return thick_slices(scan, name)
    raise ValueError("unknown probe %r" % name)


def blanked_joint(scan, side, reference):
    """``blanked_<side>``: the tissue (above -300 HU; air stays) from 2 mm below to 7 mm above
    that side's condyle centre, on its side of the two condyles' midpoint, set to 0 HU (the
    joint lost to an artefact or a defect; the localiser then takes other bone for it). For a
    scan whose axes are LPS's."""
    direction = np.reshape(scan.GetDirection(), (3, 3))
    if not np.allclose(np.abs(direction), np.eye(3)):
        raise ValueError("blanked_<side>: the scan's axes must be LPS's")
    centre = np.asarray(reference[side]["condyle_center_lps_mm"], float)
    middle = np.mean([reference[s]["condyle_center_lps_mm"] for s in SIDES], axis=0)
    size = scan.GetSize()
    xs = np.array([scan.TransformIndexToPhysicalPoint((i, 0, 0))[0] for i in range(size[0])])
    zs = np.array([scan.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(size[2])])
    on_side = (xs > middle[0]) if side == "left" else (xs < middle[0])   # LPS +x: left
    in_slab = (zs >= centre[2] - 2.0) & (zs <= centre[2] + 7.0)
    array = sitk.GetArrayFromImage(scan)
    slab = array[np.ix_(in_slab, np.ones(size[1], bool), on_side)]
    slab[slab > -300] = 0
    array[np.ix_(in_slab, np.ones(size[1], bool), on_side)] = slab
    return _copy(array, scan)


def thick_slices(scan, name):
    """``slices_<mm>_<linear|bspline>`` / ``thick_<mm>`` (module docstring): slices <mm> thick
    (a boxcar of <mm> / spacing of the scan's slices; LPS z must be its array z), every <mm>
    resampled back onto the scan's grid, or every slice of the scan."""
    from scipy.ndimage import uniform_filter1d

    parts = name.split("_")
    step = scan.GetSpacing()[2]
    n = int(round(float(parts[1]) / step))
    array = uniform_filter1d(sitk.GetArrayFromImage(scan).astype(np.float32), n, axis=0,
                             mode="nearest")
    if parts[0] == "thick":
        return _copy(np.round(array).astype(sitk.GetArrayViewFromImage(scan).dtype), scan)
    first = n // 2   # the first thick slice's centre: slices 0 .. n - 1 averaged
    thick = sitk.GetImageFromArray(array[first::n])
    thick.SetSpacing(scan.GetSpacing()[:2] + (n * step,))
    thick.SetDirection(scan.GetDirection())
    thick.SetOrigin(scan.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(first))))
    interpolator = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}[parts[2]]
    back = sitk.Resample(thick, scan, sitk.Transform(), interpolator, -1000.0, sitk.sitkFloat32)
    return sitk.Cast(sitk.Round(back), scan.GetPixelID())


def _intensity_probe(scan, name, reference):
    """bone_<f>: HU above 100 scaled about 100 by <f> (denser or more porous bone, a scanner's
    calibration); sharp_<a>: unsharp masking by <a> with a 0.6 mm Gaussian (a sharper bone
    kernel: overshoot at the edges, more noise); offset_<hu>: every value moved by <hu> (a
    scanner's water calibration off); motion_<mm>: the slices above the condyles' mean centre
    moved by <mm> mm anteriorly (the patient moved between two table positions: a step through
    the joints); cupping_<c>: (HU + 1000) x (1 - c (1 - (r / 90 mm)^2)), r the axial distance
    from the head's centre (a CBCT's shading: c lower in the centre); rings_<hu>: rings 1 mm
    wide every 4 mm of r, +<hu> and -<hu> in turn (a detector's ring artefacts); noise_<hu>:
    Gaussian noise of <hu> HU, correlated in-plane (sigma 0.6 pixel; low-dose CT or CBCT)."""
    array = sitk.GetArrayFromImage(scan).astype(np.float32)
    kind, value = name.split("_", 1)
    value = float(value)
    if kind == "bone":
        bone = array > 100.0
        array[bone] = 100.0 + (array[bone] - 100.0) * value
    elif kind == "sharp":
        blur = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(
            sitk.Cast(scan, sitk.sitkFloat32), 0.6))
        array = array + value * (array - blur)
    elif kind == "offset":
        array = array + value
    elif kind in ("cupping", "rings"):
        centre = head_mask_stats(scan)[0]   # the axial distance r from the head's centre
        k, j, i = np.meshgrid(*[np.arange(n) for n in scan.GetSize()[::-1]], indexing="ij",
                              sparse=True)
        o, s = scan.GetOrigin(), scan.GetSpacing()
        r = np.hypot(o[0] + s[0] * i - centre[0], o[1] + s[1] * j - centre[1])
        if kind == "cupping":
            array = (array + 1000.0) * (1.0 - value * np.clip(1.0 - (r / 90.0) ** 2, 0, 1)) - 1000.0
        else:
            array = array + value * np.where(r % 4.0 < 1.0, 1.0, 0.0) * np.where(
                (r // 4.0) % 2 == 0, 1.0, -1.0)
    elif kind == "noise":
        from scipy.ndimage import gaussian_filter

        noise = gaussian_filter(np.random.default_rng(3).normal(0.0, 1.0, array.shape).astype(
            np.float32), (0.0, 0.6, 0.6))
        array = array + noise * (value / noise.std())
    else:
        centre = np.mean([reference[s]["condyle_center_lps_mm"] for s in SIDES], axis=0)
        k0 = int(np.ceil((centre[2] - scan.GetOrigin()[2]) / scan.GetSpacing()[2]))
        moved = sitk.GetImageFromArray(array[k0:])
        moved.SetSpacing(scan.GetSpacing()[:2] + (1.0,))
        shifted = sitk.Resample(moved, moved, sitk.TranslationTransform(3, (0.0, value, 0.0)),
                                sitk.sitkLinear, -1000.0)   # the content moves by -value in y
        array[k0:] = sitk.GetArrayFromImage(shifted)
    info = np.iinfo(sitk.GetArrayViewFromImage(scan).dtype)
    return _copy(np.clip(np.round(array), max(info.min, -1024), min(info.max, 3071)).astype(
        sitk.GetArrayViewFromImage(scan).dtype), scan)


def _metal_probe(scan, name, reference):
    import metal_artifacts as metal

    centres = {s: np.asarray(reference[s]["condyle_center_lps_mm"], float) for s in SIDES}
    if name == "metal_fillings":
        return metal.add_metal(scan, metal.molar_fillings(scan, list(centres.values())))
    if name.startswith("metal_plate_left_"):
        below = float(name[len("metal_plate_left_"):])
        return metal.add_metal(scan, metal.neck_plate(scan, centres["left"], +1, below, PLATE_MM))
    if name == "metal_fossa_left":
        top = centres["left"][2] + PROSTHESIS_TOP_MM
        return metal.add_metal(scan, metal.fossa_lining(scan, centres["left"], top))
    if name == "metal_prosthesis_left":
        top = centres["left"][2] + PROSTHESIS_TOP_MM
        resected, mask = metal.condylar_prosthesis(scan, centres["left"], top)
        return metal.add_metal(resected, mask)
    raise ValueError("unknown probe %r" % name)


def main(argv=None):
    from NegativeVolumeSegmentationLib.inference.models import load_models
    from NegativeVolumeSegmentationLib.options import RunOptions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ct", nargs="?", default=DEFAULT_CT)
    parser.add_argument("--probes", default=",".join(PROBES))
    parser.add_argument("--without-slice-detail", action="store_true",
                        help="the quality gate without its check of the slices' detail (what "
                             "these scans read before it)")
    parser.add_argument("--without-side-checks", action="store_true",
                        help="the quality gate without its checks of made slices and noise at "
                             "the joints (what these scans read before them)")
    args = parser.parse_args(argv)
    from NegativeVolumeSegmentationLib import quality
    if args.without_slice_detail:
        quality.ct_slice_detail = lambda ct: None
    if args.without_side_checks:
        quality.check_made_slices = lambda *args: ([], [])
        quality.check_noise = lambda *args: ([], [])
    scan = sitk.ReadImage(args.ct)
    models = load_models(device="cpu")
    options = RunOptions(device="cpu")
    reference, seconds = run_pipeline(scan, models, options)
    print("CT: %s, %s voxels at %s mm; repository %s\n" % (
        args.ct, "x".join(map(str, scan.GetSize())), "x".join("%g" % s for s in scan.GetSpacing()),
        os.path.basename(REPO)))
    print("| probe | voxels | side | NV mm3 | NV change % | condyle mm3 | condyle change % "
          "| min JS mm | mean JS mm | not measurable / error / caution | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [("untouched", scan, reference, seconds, None)]
    for name in [p for p in args.probes.split(",") if p]:
        image = build_probe(scan, name, reference)
        try:
            report, seconds = run_pipeline(image, models, options)
            runs.append((name, image, report, seconds, None))
        except Exception as error:   # a probe refused with one line is a result here
            runs.append((name, image, None, 0.0, "%s: %s" % (type(error).__name__, error)))
        del image
    for name, image, report, seconds, error in runs:
        for side in SIDES:
            got = report[side] if report else None
            ref = reference[side]
            reason = error or ("" if got else report["quality"][side]["reason"])
            if got and name != "untouched":   # what the report cautions of this side (and of
                reason = "; ".join(                # the scan, beyond the untouched scan's)
                    c[len(side) + 7:] if c.startswith(side + " side: ") else c
                    for c in report.get("cautions") or []
                    if c.startswith(side + " side: ") or not (" side: " in c or c in
                                                              reference.get("cautions", [])))
            cells = [name, "x".join(map(str, image.GetSize())), side]
            k = probe_scale(name)   # volumes against the reference x k^3, lengths / k
            if got:
                cells += ["%.1f" % got["negative_volume_mm3"],
                          "%+.1f" % percent(got["negative_volume_mm3"],
                                            ref["negative_volume_mm3"] * k ** 3),
                          "%.1f" % got["condyle_volume_mm3"],
                          "%+.1f" % percent(got["condyle_volume_mm3"],
                                            ref["condyle_volume_mm3"] * k ** 3),
                          "%.2f" % (got["joint_space_min_mm"] / k),
                          "%.2f" % (got["joint_space_mean_mm"] / k)]
            else:
                cells += ["-"] * 6
            cells += [reason, "%.1f" % seconds]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
