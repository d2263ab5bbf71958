"""The localiser alone on a real head CT and its benign variants: does it find the condyles itself?

The whole pipeline checks the localiser's candidates with the segmentation network and searches a
missing side at the mirror image of the other (benchmarks/real_ct_invariance.py measures that
route). This benchmark isolates the first step: for the untouched scan and each variant of
real_ct_invariance.VARIANTS it runs only the localiser (``inference.localize.localize_joints``) and
maps its choice for each side back into the untouched scan (the variant's known transform), then
prints its distance from the condyle centre the whole pipeline finds on the untouched scan (the
reference), the number of candidates and the localiser's warnings. Prints a table, asserts
nothing.

    .venv/bin/python benchmarks/localiser_real_ct.py [CT] [--within 6]

Models: the bundled ones, or the folder in NVSEG_MODEL_DIR (to compare a candidate localiser).
"""

import argparse
import os
import sys

import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "NegativeVolumeSegmentation"))

import real_ct_invariance as variants  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ct", nargs="?", default=variants.DEFAULT_CT)
    parser.add_argument("--within", type=float, default=6.0,
                        help="a side counts as found when within this many mm (default 6)")
    args = parser.parse_args(argv)

    from NegativeVolumeSegmentationLib.inference import localize
    from NegativeVolumeSegmentationLib.inference.models import load_models
    from NegativeVolumeSegmentationLib.options import RunOptions

    models = load_models(device="cpu")
    net, meta = models.localizer
    scan = sitk.ReadImage(args.ct)
    report, _ = variants.run_pipeline(scan, models, RunOptions())
    reference = {side: np.asarray(report[side]["condyle_center_lps_mm"], float)
                 for side in variants.SIDES if report.get(side)}
    print("CT %s; models %s; reference: the pipeline's condyle centres on the untouched scan"
          % (args.ct, models.files), flush=True)
    print("| scan | candidates | left: mm from the condyle | right: mm from the condyle | "
          "both within %g mm | localiser warnings |" % args.within)
    print("|---|---|---|---|---|---|")
    found = total = 0
    for name in ["untouched"] + list(variants.VARIANTS):
        if name == "untouched":
            image, to_scan, swapped = scan, sitk.TranslationTransform(3), False
        elif variants.is_identity(scan, name):
            continue
        else:
            image, to_scan, swapped = variants.build_variant(scan, name)
        located = localize.localize_joints(image, net, meta)
        cells, ok = [], True
        for side in variants.SIDES:
            anatomical = {"left": "right", "right": "left"}[side] if swapped else side
            point = located.joints.get(side)
            if point is None or anatomical not in reference:
                cells.append("none")
                ok = False
                continue
            back = np.asarray(to_scan.TransformPoint(tuple(float(v) for v in point)))
            distance = float(np.linalg.norm(back - reference[anatomical]))
            ok = ok and distance <= args.within
            cells.append("%.1f" % distance)
        total += 1
        found += ok
        print("| %s | %d | %s | %s | %s | %s |" % (name, len(located.candidates), cells[0], cells[1],
                                                   "yes" if ok else "no",
                                                   "; ".join(located.warnings)[:160]), flush=True)
    print("\nboth joints within %g mm by the localiser alone: %d of %d scans" % (args.within, found, total))


if __name__ == "__main__":
    main()
