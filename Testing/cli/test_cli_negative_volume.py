"""`nvseg negative-volume`: files written all or nothing, report.json contract, input checks."""

import argparse
import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.vtkIOLegacy import vtkPolyDataReader

from NegativeVolumeSegmentationLib import RunOptions, pipeline
from NegativeVolumeSegmentationLib.cli import negative_volume as cli_negative_volume
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.phantom import write_phantom
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom

SIDE_KEYS = ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
             "joint_space_mean_mm", "condyle_center_lps_mm")


def _run(argv):
    parser = argparse.ArgumentParser(prog="nvseg")
    cli_negative_volume.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["negative-volume"] + argv)
    return args.func(args)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    ph = make_analytic_phantom(seed=8, left={"joint_space_mm": 2.0}, right={"joint_space_mm": 3.0})
    write_phantom(ph, str(folder))
    return ph, str(folder)


def test_outputs_and_report_contract(case, tmp_path):
    ph, folder = case
    out = str(tmp_path / "out")
    assert _run([os.path.join(folder, "labels.nii.gz"), "--ct", os.path.join(folder, "ct.nii.gz"),
                 "-o", out]) == 0
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    for side in ("left", "right"):
        for key in SIDE_KEYS:
            assert key in report[side]
        truth = ph.truth[side]["negative_volume_mm3"]
        assert abs(report[side]["negative_volume_mm3"] / truth - 1) < 0.06
    left, right = (report[s]["negative_volume_mm3"] for s in ("left", "right"))
    assert report["asymmetry_percent"]["negative_volume"] == pytest.approx(
        100 * abs(left - right) / (left + right))
    assert report["timings_s"]["total"] > 0 and report["device"] == "cpu" and report["version"]
    assert isinstance(report["warnings"], list)
    labels = sitk.ReadImage(os.path.join(out, "labels.nii.gz"))
    arr = sitk.GetArrayFromImage(labels)
    assert set(np.unique(arr)) == {0, 1, 2, 3, 4, 5, 6}
    voxel = float(np.prod(labels.GetSpacing()))
    assert (arr == 5).sum() * voxel == pytest.approx(left)
    assert np.allclose(labels.GetOrigin(), ph.labels.GetOrigin(), atol=1e-4)
    reader = vtkPolyDataReader()
    reader.SetFileName(os.path.join(out, "left_condyle.vtk"))
    reader.ReadAllScalarsOn()
    reader.Update()
    thickness = reader.GetOutput().GetPointData().GetArray("JointSpaceThickness_mm")
    assert thickness is not None
    values = np.array([thickness.GetValue(i) for i in range(thickness.GetNumberOfTuples())])
    assert abs(np.median(values[values > 0]) - 2.0) < 0.1
    for side in ("left", "right"):
        for mesh in ("temporal_bone", "inflated", "negative_volume"):
            assert os.path.getsize(os.path.join(out, "%s_%s.vtk" % (side, mesh))) > 0
    assert not [n for n in os.listdir(out) if n.startswith(".nvseg-partial")]


def test_a_dicom_ct_is_named_in_the_report(case, tmp_path):
    """``--ct`` a DICOM folder: the same numbers as its NIfTI, and report.json names the series."""
    from dicom_writer import write_dicom_series

    ph, folder = case
    dicom = write_dicom_series(sitk.ReadImage(os.path.join(folder, "ct.nii.gz")),
                               str(tmp_path / "ct_series"), "1.2.826.0.1.3680043.2.1125.12.1",
                               tags=[("0020|0011", "4"), ("0008|103e", "TMJ")])
    reports = []
    for ct, out in ((os.path.join(folder, "ct.nii.gz"), "nifti"), (dicom, "dicom")):
        assert _run([os.path.join(folder, "labels.nii.gz"), "--ct", ct,
                     "-o", str(tmp_path / out)]) == 0
        with open(str(tmp_path / out / "report.json")) as f:
            reports.append(json.load(f))
    assert reports[0]["inputs"]["dicom_series"] is None
    assert reports[1]["inputs"]["dicom_series"]["number"] == "4"
    assert reports[1]["inputs"]["dicom_series"]["description"] == "TMJ"
    for side in ("left", "right"):
        assert reports[1][side]["negative_volume_mm3"] == pytest.approx(
            reports[0][side]["negative_volume_mm3"], rel=1e-3)


def test_without_ct_the_picture_shows_the_label_map_and_slicer_gets_its_segmentation(case,
                                                                                     tmp_path):
    """A label map alone (no --ct): report.png is drawn on the label map's slices and says so,
    and segmentation.seg.nrrd holds the six segments of labels.nii.gz voxel for voxel, so the
    NV segment Slicer loads has the reported NV (the analytic phantom's closed-form truth within
    6 %)."""
    from NegativeVolumeSegmentationLib.io.segmentation_files import read_label_map

    ph, folder = case
    out = tmp_path / "out"
    assert _run([os.path.join(folder, "labels.nii.gz"), "-o", str(out)]) == 0
    assert (out / "report.png").stat().st_size > 20000
    with open(str(out / "report.json")) as f:
        report = json.load(f)
    labels = sitk.ReadImage(str(out / "labels.nii.gz"))
    segmentation = read_label_map(str(out / "segmentation.seg.nrrd"))
    assert np.array_equal(sitk.GetArrayFromImage(segmentation), sitk.GetArrayFromImage(labels))
    assert np.allclose(segmentation.GetOrigin(), labels.GetOrigin(), atol=1e-6)
    voxel = float(np.prod(segmentation.GetSpacing()))
    arr = sitk.GetArrayFromImage(segmentation)
    for side, nv_value in (("left", 5), ("right", 6)):
        got = (arr == nv_value).sum() * voxel
        assert got == pytest.approx(report[side]["negative_volume_mm3"])
        assert abs(got / ph.truth[side]["negative_volume_mm3"] - 1) < 0.06


def test_without_matplotlib_everything_but_the_picture_is_written(case, tmp_path, monkeypatch,
                                                                  capsys):
    """Slicer's own Python has no matplotlib: the command still succeeds, writes the rest and
    says in one warning why report.png is missing."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    _ph, folder = case
    out = tmp_path / "out"
    assert _run([os.path.join(folder, "labels.nii.gz"), "-o", str(out)]) == 0
    assert not (out / "report.png").exists()
    for name in ("report.json", "labels.nii.gz", "segmentation.seg.nrrd", "left_condyle.vtk"):
        assert (out / name).is_file(), name
    with open(str(out / "report.json")) as f:
        warnings = json.load(f)["warnings"]
    assert any("report.png not written: matplotlib" in w for w in warnings), warnings
    assert "report.png not written" in capsys.readouterr().err


def test_label_background_paints_bone_for_the_bone_window():
    from NegativeVolumeSegmentationLib.report import figure

    arr = np.array([[[0, 1, 2, 3, 4, 5, 6]]], np.uint8)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.5, 0.7, 0.9))
    image.SetOrigin((3.0, -2.0, 10.0))
    painted = figure.label_background(image)
    assert painted.GetSpacing() == image.GetSpacing() and painted.GetOrigin() == image.GetOrigin()
    values = sitk.GetArrayFromImage(painted)[0, 0]
    bone, other = values[1:5], values[[0, 5, 6]]
    assert len(set(bone)) == 1 and len(set(other)) == 1    # condyle and TB alike, the rest alike
    low, high = figure.BONE_WINDOW
    assert low < other[0] < bone[0] < high   # both inside the bone window, bone the lighter
    assert bone[0] - other[0] > 0.4 * (high - low)


def test_missing_side_is_null_with_reason(tmp_path):
    ph = make_analytic_phantom(seed=9, sides=("right",))
    path = str(tmp_path / "labels.nrrd")
    sitk.WriteImage(ph.labels, path)
    out = str(tmp_path / "out")
    assert _run([path, "-o", out, "--mode", "paper", "--max-distance", "6"]) == 0
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    assert report["left"] is None and report["right"] is not None
    assert report["asymmetry_percent"] == {"negative_volume": None, "condyle_volume": None}
    assert any("left side" in w for w in report["warnings"])
    assert report["right"]["mode"] == "paper"


def test_ct_elsewhere_is_refused_and_nothing_written(case, tmp_path):
    ph, folder = case
    ct = sitk.ReadImage(os.path.join(folder, "ct.nii.gz"))
    moved = sitk.Image(ct)
    moved.SetOrigin(tuple(np.add(ct.GetOrigin(), (1.0, 0.0, 0.0))))  # 2 voxels off the labels
    ct_path = str(tmp_path / "moved_ct.nii.gz")
    sitk.WriteImage(moved, ct_path)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="reaches outside the CT"):
        _run([os.path.join(folder, "labels.nii.gz"), "--ct", ct_path, "-o", str(out)])
    assert not out.exists() or os.listdir(str(out)) == []


def _grid(image, spacing):
    """``image`` resampled (linear) onto a grid of ``spacing`` (mm) over the same extent."""
    size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing)]
    origin = np.asarray(image.GetOrigin()) + 0.5 * (np.asarray(spacing) - image.GetSpacing())
    return sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, origin.tolist(),
                         list(spacing), image.GetDirection(), -1000.0, image.GetPixelID())


def test_ct_on_another_grid_is_resampled_and_its_own_grid_is_gated(case, tmp_path):
    """Labels on a finer grid than their CT (as nvseg run writes them): the CT is resampled onto
    the labels' grid, the numbers are those measured with the CT on the labels' own grid, and
    the quality gate reads the CT's grid too: 2.5 mm slices are not measurable (limit 2 mm),
    1.5 mm slices a caution (over 1 mm), whatever the labels' grid."""
    ph, folder = case
    labels_path = os.path.join(folder, "labels.nii.gz")
    ct = sitk.ReadImage(os.path.join(folder, "ct.nii.gz"))
    _run([labels_path, "--ct", os.path.join(folder, "ct.nii.gz"), "-o", str(tmp_path / "same")])
    with open(str(tmp_path / "same" / "report.json")) as f:
        same = json.load(f)
    coarse_path = str(tmp_path / "ct_slices_1.5.nii.gz")
    sitk.WriteImage(_grid(ct, (0.5, 0.5, 1.5)), coarse_path)
    out = tmp_path / "coarse"
    _run([labels_path, "--ct", coarse_path, "-o", str(out)])
    with open(str(out / "report.json")) as f:
        report = json.load(f)
    assert any("resampled onto the label map's grid" in w for w in report["warnings"])
    assert any("slices 1.5 mm" in c for c in report["cautions"]), report["cautions"]
    for side in ("left", "right"):
        got = report[side]["negative_volume_mm3"]
        assert got == pytest.approx(same[side]["negative_volume_mm3"], rel=1e-9)
        truth = ph.truth[side]["negative_volume_mm3"]
        assert abs(got / truth - 1) < 0.06, (side, got, truth)
    # too few slices for a CT file (12), so in memory: 2.5 mm slices are not measurable
    thick = pipeline.measure_labels(labels_path, RunOptions(), ct=_grid(ct, (0.5, 0.5, 2.5)))
    assert thick.report["left"] is None and thick.report["right"] is None
    assert "slices 2.5 mm" in thick.report["quality"]["scan"]["reason"]


def test_bad_arguments(case, tmp_path):
    _ph, folder = case
    with pytest.raises(InputError):
        _run([os.path.join(folder, "labels.nii.gz"), "-o", str(tmp_path), "--max-distance", "0"])
    with pytest.raises(InputError, match="no such file"):
        _run([str(tmp_path / "absent.nii.gz"), "-o", str(tmp_path / "o")])
    bad = sitk.Image(8, 8, 8, sitk.sitkUInt8) + 9
    path = str(tmp_path / "bad.nii.gz")
    sitk.WriteImage(bad, path)
    with pytest.raises(InputError, match="values"):
        _run([path, "-o", str(tmp_path / "o2")])


def _report(folder):
    with open(os.path.join(str(folder), "report.json")) as f:
        return json.load(f)


def _near_truth(report, ph, tolerance=0.06):
    """Both sides' NV within ``tolerance`` of the analytic phantom's closed-form truth."""
    for side in ("left", "right"):
        truth = ph.truth[side]["negative_volume_mm3"]
        got = report[side]["negative_volume_mm3"]
        assert abs(got / truth - 1) < tolerance, (side, got, truth)


def test_an_input_the_write_would_replace_is_refused_and_kept(case, tmp_path, capsys):
    """Re-measuring a segmentation.seg.nrrd corrected in Slicer into its own results folder
    would replace it with our output: refused (exit 2, one line) before anything is written;
    likewise labels.nii.gz, a CT named like one of our files, and the same folder reached
    through a link. Another output folder measures the corrected file."""
    from NegativeVolumeSegmentationLib.cli import main
    from NegativeVolumeSegmentationLib.io.segmentation_files import write_label_map

    ph, folder = case
    inplace = tmp_path / "inplace"
    inplace.mkdir()
    for name in ("segmentation.seg.nrrd", "labels.nii.gz"):
        write_label_map(ph.labels, str(inplace / name))
    ct_named_like_ours = tmp_path / "ct_folder"
    ct_named_like_ours.mkdir()
    with open(os.path.join(folder, "ct.nii.gz"), "rb") as source:
        (ct_named_like_ours / "labels.nii.gz").write_bytes(source.read())
    os.symlink(str(inplace), str(tmp_path / "link"))
    before = dict((p, p.read_bytes()) for p in (inplace / "segmentation.seg.nrrd",
                                                inplace / "labels.nii.gz",
                                                ct_named_like_ours / "labels.nii.gz"))
    for argv, replaced in (
            ([str(inplace / "segmentation.seg.nrrd"), "-o", str(inplace)],
             inplace / "segmentation.seg.nrrd"),
            ([str(inplace / "labels.nii.gz"), "-o", str(inplace) + os.sep],
             inplace / "labels.nii.gz"),
            ([str(inplace / "segmentation.seg.nrrd"), "-o", str(tmp_path / "link")],
             inplace / "segmentation.seg.nrrd"),
            ([os.path.join(folder, "labels.nii.gz"), "--ct",
              str(ct_named_like_ours / "labels.nii.gz"), "-o", str(ct_named_like_ours)],
             ct_named_like_ours / "labels.nii.gz")):
        capsys.readouterr()
        assert main(["negative-volume"] + argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "would replace the input" in err, err
        assert os.path.basename(str(replaced)) in err
    for path, content in before.items():
        assert path.read_bytes() == content, path
    assert sorted(os.listdir(str(inplace))) == ["labels.nii.gz", "segmentation.seg.nrrd"]
    assert sorted(os.listdir(str(ct_named_like_ours))) == ["labels.nii.gz"]
    out = tmp_path / "elsewhere"
    assert _run([str(inplace / "segmentation.seg.nrrd"), "-o", str(out)]) == 0
    _near_truth(_report(out), ph)


def _layered_seg_nrrd(path, layers, image, names):
    """A Slicer-style layered .seg.nrrd written with pynrrd: ``layers`` (k, j, i) uint8 arrays,
    ``names`` [(segment name, label value, layer)], LPS geometry of ``image``."""
    import nrrd

    data = np.stack([np.transpose(a, (2, 1, 0)) for a in layers])      # layer, i, j, k
    columns = np.reshape(image.GetDirection(), (3, 3)) * np.asarray(image.GetSpacing())
    header = {"space": "left-posterior-superior", "kinds": ["list", "domain", "domain", "domain"],
              "space directions": np.vstack([[np.nan] * 3, columns.T]),
              "space origin": np.asarray(image.GetOrigin())}
    for index, (name, value, layer) in enumerate(names):
        header.update({"Segment%d_Name" % index: name, "Segment%d_LabelValue" % index: str(value),
                       "Segment%d_Layer" % index: str(layer)})
    nrrd.write(path, data, header)
    return path


def test_layered_segmentation_keeps_the_bones_where_an_old_negative_volume_overlaps(case,
                                                                                    tmp_path):
    """Slicer keeps overlapping segments in layers: bones in layer 0, an earlier run's NV
    (grown 2 voxels into the condyle and temporal bone, as after correcting the bones) in layer
    1. The NV is recomputed, so the bones keep their voxels: the NV is the analytic truth's."""
    from scipy import ndimage

    ph, _folder = case
    truth = sitk.GetArrayFromImage(ph.labels)
    bones = np.where(truth <= 4, truth, 0).astype(np.uint8)
    old_nv = np.zeros_like(bones)
    for value, layer_value in ((5, 1), (6, 2)):
        grown = ndimage.binary_dilation(truth == value, iterations=2)
        assert np.count_nonzero(grown & (bones > 0)) > 100      # overlaps the bones
        old_nv[grown] = layer_value
    names = [("Left mandibular condyle", 1, 0), ("Right mandibular condyle", 2, 0),
             ("Left temporal bone", 3, 0), ("Right temporal bone", 4, 0),
             ("Left negative volume", 1, 1), ("Right negative volume", 2, 1)]
    path = _layered_seg_nrrd(str(tmp_path / "corrected.seg.nrrd"), [bones, old_nv], ph.labels,
                             names)
    out = tmp_path / "out"
    assert _run([path, "-o", str(out)]) == 0
    _near_truth(_report(out), ph)
    measured = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz")))
    for value in (1, 2, 3, 4):
        np.testing.assert_array_equal(measured == value, bones == value)


def _unoriented_nifti(image, path):
    """``image`` as a .nii.gz whose header gives no orientation: qform_code and sform_code (int16
    at bytes 252 and 254 of the NIfTI-1 header, the standard's layout) set to 0."""
    import gzip
    import shutil
    import struct

    raw = path[:-len(".gz")]
    sitk.WriteImage(image, raw)
    with open(raw, "r+b") as handle:
        assert struct.unpack("<i", handle.read(4))[0] == 348
        handle.seek(252)
        handle.write(struct.pack("<hh", 0, 0))
    with open(raw, "rb") as source, gzip.open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    os.remove(raw)
    return path


def test_a_label_map_without_orientation_keeps_its_label_values(case, tmp_path):
    """A NIfTI with qform and sform codes 0 whose array runs toward the patient's right (ITK
    reads it as running left): the label values are trusted, 1 is the left condyle (its
    analytic NV), the output keeps every voxel's value and a warning says why. With its CT (no
    orientation either, same size) the same; a CT of another size is refused."""
    ph, folder = case
    flipped = sitk.Flip(ph.labels, [True, False, False])      # same voxels, array reversed
    path = _unoriented_nifti(flipped, str(tmp_path / "no_orientation.nii.gz"))
    stored = sitk.GetArrayFromImage(sitk.ReadImage(path))
    assert np.mean(np.nonzero(stored == 1)[2]) < np.mean(np.nonzero(stored == 2)[2])
    ct_path = _unoriented_nifti(sitk.Flip(sitk.ReadImage(os.path.join(folder, "ct.nii.gz")),
                                          [True, False, False]), str(tmp_path / "ct.nii.gz"))
    for argv in ([], ["--ct", ct_path]):
        out = tmp_path / ("out%d" % len(argv))
        assert _run([path, "-o", str(out)] + argv) == 0
        report = _report(out)
        _near_truth(report, ph)
        assert not any("swapped" in w for w in report["warnings"]), report["warnings"]
        assert any("no_orientation.nii.gz: the NIfTI file carries no orientation" in w
                   and "taken from its label values" in w for w in report["warnings"])
        measured = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz")))
        bone = (stored >= 1) & (stored <= 4)
        np.testing.assert_array_equal(measured[bone], stored[bone])
    other = tmp_path / "ct_other_size.nii.gz"
    ct = sitk.ReadImage(os.path.join(folder, "ct.nii.gz"))
    sitk.WriteImage(ct[:-2, :, :], str(other))
    with pytest.raises(InputError, match="carries no orientation .* not the CT's"):
        _run([path, "--ct", str(other), "-o", str(tmp_path / "refused")])


def test_condyles_swapped_without_their_temporal_bones_are_refused(case, tmp_path):
    """Labels 1 and 2 exchanged but 3 and 4 not (or the reverse): each condyle lies by the other
    label's temporal bone, so no swap pairs them: refused with the reason. All four exchanged is
    a consistent swap: measured, the patient's left the analytic left."""
    ph, folder = case
    truth = sitk.GetArrayFromImage(ph.labels)
    maps = {"condyles": [0, 2, 1, 3, 4, 0, 0], "temporal_bones": [0, 1, 2, 4, 3, 0, 0],
            "all": [0, 2, 1, 4, 3, 0, 0]}
    paths = {}
    for name, table in maps.items():
        image = sitk.GetImageFromArray(np.asarray(table, np.uint8)[truth])
        image.CopyInformation(ph.labels)
        paths[name] = str(tmp_path / ("swapped_%s.nii.gz" % name))
        sitk.WriteImage(image, paths[name])
    for name in ("condyles", "temporal_bones"):
        with pytest.raises(InputError, match="labelled on opposite sides"):
            _run([paths[name], "-o", str(tmp_path / name)])
    assert _run([paths["all"], "-o", str(tmp_path / "all")]) == 0
    _near_truth(_report(tmp_path / "all"), ph)


def test_segments_not_ours_are_left_out_and_named_in_the_report(case, tmp_path):
    """A Slicer segmentation with an extra segment (teeth) and names typed loosely (case, double
    spaces, underscores): measured, the extra segment named in report.json's warnings, which
    also names the label map among the inputs."""
    ph, _folder = case
    truth = sitk.GetArrayFromImage(ph.labels)
    layer = np.where(truth <= 4, truth, 0).astype(np.uint8)
    layer[:3, :3, :3] = 7
    names = [("left  mandibular condyle", 1, 0), ("RIGHT_mandibular_condyle", 2, 0),
             ("Left temporal bone ", 3, 0), ("right temporal   bone", 4, 0), ("teeth", 7, 0)]
    path = _layered_seg_nrrd(str(tmp_path / "with_teeth.seg.nrrd"), [layer], ph.labels, names)
    out = tmp_path / "out"
    assert _run([path, "-o", str(out)]) == 0
    report = _report(out)
    _near_truth(report, ph)
    assert any("'teeth' ignored" in w for w in report["warnings"]), report["warnings"]
    assert report["inputs"]["labels"] == os.path.abspath(path)


def test_the_library_route_checks_the_pairing_and_keeps_the_reading_warnings(case, tmp_path):
    """pipeline.measure_labels (Slicer's "measure existing segments", its background run, the
    console) reads as the command does: the condyles labelled on opposite sides refused, a
    segment not ours named in the report."""
    from NegativeVolumeSegmentationLib import pipeline

    ph, _folder = case
    truth = sitk.GetArrayFromImage(ph.labels)
    swapped = sitk.GetImageFromArray(np.asarray([0, 2, 1, 3, 4, 0, 0], np.uint8)[truth])
    swapped.CopyInformation(ph.labels)
    with pytest.raises(InputError, match="labelled on opposite sides"):
        pipeline.measure_labels(swapped)
    layer = np.where(truth <= 4, truth, 0).astype(np.uint8)
    layer[:3, :3, :3] = 7
    names = [("left mandibular condyle", 1, 0), ("right mandibular condyle", 2, 0),
             ("left temporal bone", 3, 0), ("right temporal bone", 4, 0), ("teeth", 7, 0)]
    path = _layered_seg_nrrd(str(tmp_path / "with_teeth.seg.nrrd"), [layer], ph.labels, names)
    report = pipeline.measure_labels(path).report
    _near_truth(report, ph)
    assert any("'teeth' ignored" in w for w in report["warnings"]), report["warnings"]
