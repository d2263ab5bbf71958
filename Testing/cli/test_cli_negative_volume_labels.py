"""`nvseg negative-volume` input checks and the label maps users bring: bad arguments, a layered
Slicer segmentation, a NIfTI without orientation, labels swapped between sides, segments not
ours, and the same checks on the library route (cli/negative_volume.py, io/segmentation_files.py,
pipeline.measure_labels).

Truth: the analytic phantom of analytic_case.py (the ``case`` fixture, conftest.py), whose
negative volumes are known in closed form; each label map is that phantom's, rewritten here in
the form a user brings (layers, flipped array, exchanged values, extra segments).
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import pipeline
from NegativeVolumeSegmentationLib.errors import InputError
from analytic_case import assert_near_truth as _near_truth
from analytic_case import read_report as _report
from analytic_case import run_negative_volume as _run


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
    # a refused input leaves no output folder (an empty one was created before the input read)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        _run([os.path.join(folder, "labels.nii.gz"), "-o", str(tmp_path / "a_file" / "o3")])


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
        # the console's route (README: pipeline.measure_labels on a path) reads it alike; it
        # measured the left joint as the right before (the file's array order taken for LPS)
        console = pipeline.measure_labels(path, ct=ct_path if argv else None).report
        for side in ("left", "right"):
            assert console[side]["negative_volume_mm3"] == pytest.approx(
                report[side]["negative_volume_mm3"], rel=1e-9), side
        assert any("carries no orientation" in w for w in console["warnings"])
        assert console["inputs"]["labels"] == os.path.abspath(path)
        # given segments: nothing was segmented, whatever RunOptions().segment says (the
        # README's call recorded enhance_temporal_bone false, not null)
        assert console["parameters"] == report["parameters"]
        assert console["parameters"]["enhance_temporal_bone"] is None
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


def test_a_map_of_other_structures_is_refused_in_one_line(tmp_path):
    """A label map whose label 1 is not a condyle (the real dental map as shipped: 1 maxilla,
    2 mandible, 3 / 4 teeth) was measured: "labels 1/3 and 2/4 were swapped", both sides
    refused for reasons that contradicted each other (no temporal bone above the condyle, and
    condyle and temporal bone touching over 4624 mm2). Here label 1 a bar 60 mm long across the
    head (a condyle is 15-25 mm), the rest a joint each side: refused in one line, nothing
    written; the same map with a 20 mm bar is measured."""
    for length, refused in ((60.0, True), (20.0, False)):
        array = np.zeros((80, 80, 280), np.uint8)            # 0.5 mm: 140 x 40 x 40 mm
        for value, x0 in ((1, 200), (2, 80)):
            half = int(length / 0.5 / 2) if value == 1 else 20
            array[30:50, 30:50, x0 - half:x0 + half] = value     # condyles: boxes 10 mm tall
            array[56:64, 20:60, x0 - 30:x0 + 30] = value + 2     # a temporal-bone plate 3 mm above
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.5, 0.5, 0.5))
        path = str(tmp_path / ("bar_%d.nii.gz" % length))
        sitk.WriteImage(image, path)
        out = tmp_path / ("out_%d" % length)
        if refused:
            with pytest.raises(InputError, match=r"label 1 \(left mandibular condyle\) spans 60 mm"):
                _run([path, "-o", str(out)])
            assert not out.exists()
        else:
            assert _run([path, "-o", str(out)]) == 0


def test_the_real_dental_map_as_shipped_is_not_a_joint_label_map(tmp_path):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), os.pardir, "shared", "data", "real",
        "dental_cbct_labels.nii.gz")
    if not os.path.exists(path):
        pytest.skip("the real dental label map is not at %s (../shared absent)" % path)
    with pytest.raises(InputError, match="label 1 .* spans 151 mm .* not a label map of "
                                         "condyles and temporal bones"):
        _run([path, "-o", str(tmp_path / "dental")])
