"""The real head CT written as the DICOM folders users bring (a study with a scout and a second
reconstruction, a cohort of export trees), run through ``nvseg run``, against the same scan read
from its NIfTI file.

Layouts (each written by Testing/dicom_writer.py into a temporary folder; "soft" is the scan
blurred by a Gaussian of sigma 0.6 mm, as a softer reconstruction kernel would give it):

- ``study``: one folder: a two-image scout (series 1, LOCALIZER), the scan (series 2, 'H70h'),
  the soft copy (series 3, 'H30s', the lower SeriesInstanceUID, so GDCM lists it first);
- ``kernels``: one folder: the soft copy as series 2 (lower UID) and the scan as series 3, one
  AcquisitionTime (two reconstructions of one acquisition);
- ``cohort``: a folder of two patients: p1 a study / series tree (scout, soft, scan, each in its
  SE folder), p2 a flat folder of the scan (another study).

Known answer: every case that measures the scan reads the NIfTI file's numbers (the same
voxels); the soft copy reads lower. Prints one table: layout, case, the series measured
(cohort.csv ``series``), NV and condyle volume per side, the read time.

    .venv/bin/python benchmarks/dicom_studies.py [--layouts study,kernels,cohort]
"""

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time

import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "NegativeVolumeSegmentation"))
sys.path.insert(0, os.path.join(REPO, "Testing"))
SHARED_REAL = os.path.join(os.path.dirname(REPO), "shared", "data", "real")
SOFT_SIGMA_MM = 0.6
UID = "1.2.826.0.1.3680043.2.1125.21."
LOCALIZER = "ORIGINAL\\PRIMARY\\LOCALIZER"


def _series(number, description, kernel=None, study="100", acquired=None, image_type=None):
    tags = [("0020|000d", UID + study), ("0020|0011", str(number)), ("0008|103e", description)]
    tags += [("0018|1210", kernel)] if kernel else []
    tags += [("0008|0032", acquired)] if acquired else []
    return tags + ([("0008|0008", image_type)] if image_type else [])


def write_layout(layout, scan, soft, root):
    """Write one layout (module docstring) under ``root``; returns the folder given to nvseg."""
    from dicom_writer import write_dicom_series

    folder = os.path.join(root, layout)
    if layout == "study":
        write_dicom_series(scan, folder, UID + "10", count=2,
                           tags=_series(1, "Topogram", image_type=LOCALIZER))
        write_dicom_series(scan, folder, UID + "12", tags=_series(2, "Head bone", "H70h"))
        write_dicom_series(soft, folder, UID + "11", tags=_series(3, "Head soft", "H30s"))
    elif layout == "kernels":
        write_dicom_series(soft, folder, UID + "21",
                           tags=_series(2, "Head soft", "H30s", acquired="101500.00"))
        write_dicom_series(scan, folder, UID + "22",
                           tags=_series(3, "Head bone", "H70h", acquired="101500.00"))
    elif layout == "cohort":
        tree = os.path.join(folder, "p1", "CT TMJ")
        write_dicom_series(scan, os.path.join(tree, "SE000001"), UID + "30", count=2,
                           tags=_series(1, "Topogram", image_type=LOCALIZER))
        write_dicom_series(soft, os.path.join(tree, "SE000002"), UID + "31",
                           tags=_series(3, "Head soft", "H30s"))
        write_dicom_series(scan, os.path.join(tree, "SE000003"), UID + "32",
                           tags=_series(2, "Head bone", "H70h"))
        write_dicom_series(scan, os.path.join(folder, "p2"), UID + "33",
                           tags=_series(2, "Head bone", "H70h", study="200"))
    else:
        raise ValueError("unknown layout %r" % layout)
    return folder


def run(inputs, out):
    """cohort.csv rows of ``nvseg run INPUTS -o OUT`` (bundled models, CPU)."""
    from NegativeVolumeSegmentationLib import cli

    code = cli.main(["run"] + list(inputs) + ["-o", out, "--device", "cpu"])
    if code != 0:
        raise RuntimeError("nvseg run exited %d" % code)
    with open(os.path.join(out, "cohort.csv")) as handle:
        return list(csv.DictReader(handle))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", default=os.path.join(SHARED_REAL, "vhf_head.nii.gz"))
    parser.add_argument("--layouts", default="study,kernels,cohort")
    args = parser.parse_args(argv)
    from NegativeVolumeSegmentationLib.io.ct import find_cases, read_ct

    scan = sitk.Cast(sitk.ReadImage(args.ct), sitk.sitkInt16)
    soft = sitk.Cast(sitk.SmoothingRecursiveGaussian(sitk.Cast(scan, sitk.sitkFloat32),
                                                     SOFT_SIGMA_MM), sitk.sitkInt16)
    root = tempfile.mkdtemp(prefix="nvseg-dicom-studies-")
    try:
        print("| layout | case | series measured | NV L / R mm3 | condyle L / R mm3 | read s |")
        print("|---|---|---|---|---|---|")
        rows = [("NIfTI", run([args.ct], os.path.join(root, "out-nifti")), 0.0)]
        for layout in [v for v in args.layouts.split(",") if v]:
            folder = write_layout(layout, scan, soft, os.path.join(root, "in"))
            t0 = time.perf_counter()
            for _name, path in find_cases([folder]):
                read_ct(path)
            seconds = time.perf_counter() - t0
            rows.append((layout, run([folder], os.path.join(root, "out-" + layout)), seconds))
        for layout, cases, seconds in rows:
            for row in cases:
                print("| %s | %s | %s | %s / %s | %s / %s | %.2f |" % (
                    layout, row["case"], row["series"] or "-",
                    row["left_negative_volume_mm3"], row["right_negative_volume_mm3"],
                    row["left_condyle_volume_mm3"], row["right_condyle_volume_mm3"], seconds))
                sys.stdout.flush()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
