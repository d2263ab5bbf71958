"""report.png: written, non-trivial, outlines in the segment colours on the correct joint's row
(report_figure.py). Truth: two spherical condyles under spherical temporal-bone caps at known
LPS positions, measured by the NV engine."""

import os

import numpy as np
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.report import report_json as report, figure as report_figure
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume


def _two_joints(spacing=0.5):
    size = [int(124 / spacing), int(36 / spacing), int(36 / spacing)]
    image = sitk.Image(size, sitk.sitkUInt8)
    image.SetSpacing([spacing] * 3)
    image.SetOrigin([-62.0, -18.0, -18.0])
    k, j, i = np.indices(size[::-1])
    x, y, z = -62.0 + spacing * i, -18.0 + spacing * j, -18.0 + spacing * k
    labels = np.zeros(size[::-1], np.uint8)
    for side, cx in ((L.LEFT, 50.0), (L.RIGHT, -50.0)):
        r = np.sqrt((x - cx) ** 2 + y ** 2 + z ** 2)
        labels[(r >= 9.0) & (r <= 12.0) & (z > 0)] = L.TEMPORAL_BONE[side]
        labels[r <= 6.0 + (1.0 if side == L.LEFT else 0.0)] = L.CONDYLE[side]
    lab = sitk.GetImageFromArray(labels)
    lab.CopyInformation(image)
    hu = np.where(labels > 0, 1200.0, 40.0).astype(np.float32)
    hu[z > 14] = -1000.0
    ct = sitk.GetImageFromArray(hu)
    ct.CopyInformation(image)
    return ct, lab


def _colour_pixels(rgb, colour, tol=0.03):
    return np.all(np.abs(rgb - np.asarray(colour)[None, None, :]) < tol, axis=-1)


def test_report_png_shows_outlines_on_the_right_rows(tmp_path):
    import matplotlib.image as mpimg

    ct, lab = _two_joints()
    nv = measure_negative_volume(lab)
    assert nv.sides[L.LEFT]["negative_volume_mm3"] > 100  # a real joint space on both sides
    assert nv.sides[L.RIGHT]["negative_volume_mm3"] > 100
    rep = report.build_report(nv.sides, nv.warnings, nv.timings_s)
    path = str(tmp_path / "report.png")
    report_figure.render_report_figure(path, ct, nv.labels, rep, nv.meshes, case="spheres")
    rgb = mpimg.imread(path)[..., :3]
    assert rgb.shape[0] > 1000 and rgb.shape[1] > 1000
    height = rgb.shape[0]
    rows = {L.RIGHT: slice(0, int(0.45 * height)), L.LEFT: slice(int(0.38 * height),
                                                                 int(0.72 * height))}
    for side in L.SIDES:
        band = rgb[rows[side]]
        for value in (L.CONDYLE[side], L.TEMPORAL_BONE[side], L.NEGATIVE_VOLUME[side]):
            count = _colour_pixels(band, L.BY_VALUE[value].color).sum()
            assert count > 30, (side, value, count)
    # NV outline colours are side specific: red only on the right joint's row, green only left
    assert _colour_pixels(rgb[rows[L.LEFT]][int(0.1 * height):],
                          L.BY_VALUE[L.NEGATIVE_VOLUME[L.RIGHT]].color).sum() == 0
    assert _colour_pixels(rgb[:int(0.38 * height)],
                          L.BY_VALUE[L.NEGATIVE_VOLUME[L.LEFT]].color).sum() == 0
    # the asymmetric condyles (r 7 vs 6 mm: ~45 % by volume) are flagged in the table's colour
    assert rep["asymmetry_percent"]["condyle_volume"] > 6.0
    assert _colour_pixels(rgb, (0xf4 / 255.0, 0xa3 / 255.0, 0xa3 / 255.0), 0.01).sum() > 500


def test_missing_side_is_written_as_not_measured(tmp_path):
    ct, lab = _two_joints(spacing=0.8)
    arr = sitk.GetArrayFromImage(lab)
    arr[(arr == 2) | (arr == 4)] = 0
    only_left = sitk.GetImageFromArray(arr)
    only_left.CopyInformation(lab)
    nv = measure_negative_volume(only_left)
    rep = report.build_report(nv.sides, nv.warnings, nv.timings_s)
    assert rep[L.RIGHT] is None
    path = str(tmp_path / "report.png")
    report_figure.render_report_figure(path, ct, nv.labels, rep, nv.meshes)
    import matplotlib.image as mpimg

    rgb = mpimg.imread(path)[..., :3]
    height = rgb.shape[0]
    assert _colour_pixels(rgb[:int(0.38 * height)], L.BY_VALUE[L.CONDYLE[L.RIGHT]].color).sum() == 0
    assert _colour_pixels(rgb[int(0.38 * height):], L.BY_VALUE[L.NEGATIVE_VOLUME[L.LEFT]].color).sum() > 30


def test_flag_thresholds():
    assert report_figure.flag(None) == ""
    assert report_figure.flag(2.9) == ""
    assert report_figure.flag(4.0) == ""   # within the ~5 % a coarse grid's caution names
    assert report_figure.flag(6.5) == "asymmetric"
    # judged as shown: "6.0 %" is not above 6 (before: 6.04 read "6.0 % asymmetric")
    assert report_figure.flag(6.04) == "" and report_figure.flag(6.06) == "asymmetric"
    from NegativeVolumeSegmentationLib.options import DEFAULTS
    assert report_figure.FLAG_ASYMMETRIC == DEFAULTS["asymmetry_threshold_percent"] == 6.0


def test_table_distances_to_a_hundredth_of_a_millimetre():
    """A minimum joint space of 0.04 mm is no contact: report.png shows "0.04 mm" as the panel
    and nvseg's output do (before: "0.0 mm", read as bone on bone)."""
    side = {"negative_volume_mm3": 812.345, "condyle_volume_mm3": 1500.0,
            "joint_space_min_mm": 0.04, "joint_space_mean_mm": 2.516,
            "joint_space_superior_mm": None, "joint_space_anterior_mm": 1.3,
            "joint_space_posterior_mm": 2.0}
    rep = {L.LEFT: side, L.RIGHT: dict(side, joint_space_min_mm=1.317),
           "asymmetry_percent": {"negative_volume": 0.0, "condyle_volume": 0.0}}
    cells = dict((row[0], row[1:]) for row in report_figure.table_cells(rep)[0])
    assert cells["Negative volume"][:2] == ["812.3 mm³", "812.3 mm³"]
    assert cells["Joint space min"][:2] == ["1.32 mm", "0.04 mm"]      # right, left
    assert cells["Joint space mean"][1] == "2.52 mm" and cells["Superior space"][1] == "-"


def test_negative_volume_cli_writes_report_png_with_and_without_ct(tmp_path):
    """With --ct the slices are the CT's; without, the label map's (another picture)."""
    from NegativeVolumeSegmentationLib import cli

    ct, lab = _two_joints(spacing=0.8)
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(lab, str(tmp_path / "labels.nii.gz"))
    assert cli.main(["negative-volume", str(tmp_path / "labels.nii.gz"), "--ct",
                     str(tmp_path / "ct.nii.gz"), "-o", str(tmp_path / "with")]) == 0
    with_ct = (tmp_path / "with" / "report.png").read_bytes()
    assert len(with_ct) > 50000
    assert cli.main(["negative-volume", str(tmp_path / "labels.nii.gz"), "-o",
                     str(tmp_path / "without")]) == 0
    without = (tmp_path / "without" / "report.png").read_bytes()
    assert len(without) > 50000 and without != with_ct


def _thickness_panel_pixels(mesh, side):
    """RGB (0-255) of report.png's thickness panel for ``mesh``, inside its frame."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    report_figure._thickness_panel(ax, fig, mesh, side)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    box = ax.get_window_extent()
    top, bottom = rgb.shape[0] - int(box.y1) + 2, rgb.shape[0] - int(box.y0) - 2
    return rgb[top:bottom, int(box.x0) + 2:int(box.x1) - 2]


def test_thickness_map_shows_the_upper_faces_in_their_own_colour():
    """The condyle seen from above: an ellipsoid tilted by 35 degrees (as condyles sit), 3 mm on
    every vertex whose normal points up, 0.5 mm below. Inside the panel every coloured pixel is
    the 3 mm colour (no face turned down shows through, no seams blending in the background)."""
    from NegativeVolumeSegmentationLib.engine import nv_mask, surfaces
    from NegativeVolumeSegmentationLib.report import thickness_colors

    k, j, i = (np.indices((60, 60, 60)) - 29.5) * 0.5
    a = np.radians(35.0)
    y, z = j * np.cos(a) + k * np.sin(a), -j * np.sin(a) + k * np.cos(a)
    image = sitk.GetImageFromArray(((i / 10.0) ** 2 + (y / 5.0) ** 2 + (z / 3.0) ** 2 <= 1.0)
                                   .astype(np.uint8))
    image.SetSpacing((0.5, 0.5, 0.5))
    mesh = surfaces.mask_surface(image)
    up = surfaces.point_normals(mesh)[:, 2] > 0
    mesh = nv_mask.with_thickness(mesh, np.where(up, 3.0, 0.5))
    panel = _thickness_panel_pixels(mesh, L.LEFT)

    def near(mm):
        colour = np.asarray(thickness_colors.rgb(np.array([mm]))[0], float)
        colour = colour * 255.0 if colour.max() <= 1.0 else colour
        return np.abs(panel - colour).max(axis=2) <= 12

    coloured = panel.min(axis=2) < 250
    assert near(0.5).sum() == 0
    assert near(3.0).sum() > 0.97 * coloured.sum() > 10000   # the letters A, R, L aside


def test_the_thickness_map_is_seen_from_above_the_patients_right_on_the_right():
    """A view from above with anterior up has the patient's right (LPS -x) on the picture's
    right (the 3D views of docs/ show it so). report.png drew it mirrored under that title: a
    condyle thick only on its right half showed the thick colour on the picture's left."""
    from NegativeVolumeSegmentationLib.engine import nv_mask, surfaces
    from NegativeVolumeSegmentationLib.report import thickness_colors

    k, j, i = (np.indices((40, 40, 60)) - np.array([19.5, 19.5, 29.5])[:, None, None, None]) * 0.5
    image = sitk.GetImageFromArray(((i / 12.0) ** 2 + (j / 5.0) ** 2 + (k / 4.0) ** 2 <= 1.0)
                                   .astype(np.uint8))
    image.SetSpacing((0.5, 0.5, 0.5))   # identity direction: array x is LPS x, to the left
    mesh = surfaces.mask_surface(image)
    x = np.array([mesh.GetPoint(n)[0] for n in range(mesh.GetNumberOfPoints())])
    centre = 29.5 * 0.5
    mesh = nv_mask.with_thickness(mesh, np.where(x < centre - 1.0, 3.0, 0.5))  # right half thick
    panel = _thickness_panel_pixels(mesh, L.RIGHT)
    colour = np.asarray(thickness_colors.rgb(np.array([3.0]))[0], float)
    colour = colour * 255.0 if colour.max() <= 1.0 else colour
    thick = np.abs(panel - colour).max(axis=2) <= 12
    columns = np.nonzero(thick.any(axis=0))[0]
    middle = panel.shape[1] / 2.0
    assert thick.sum() > 2000
    assert columns.min() > middle - 5, (columns.min(), columns.max(), middle)   # right half only


def test_a_long_list_of_cautions_keeps_what_each_is_about():
    """Over three lines report.png shows each caution's "what" (its text before the first ": ");
    a side's caution keeps what it is about, not only "left side"."""
    from NegativeVolumeSegmentationLib.report.figure import _what

    assert _what("left side: metal 6 mm from the condyle's centre: 164 mm3 at 2800 HU or more; "
                 "its streaks may distort the surfaces") == ("left side: metal 6 mm from the "
                                                             "condyle's centre")
    assert _what("in-plane pixels 1 x 1 mm (over 0.8 mm): negative volume uncertain") == \
        "in-plane pixels 1 x 1 mm (over 0.8 mm)"
    assert _what("right side: fossa roof gaps bridged over 30 mm2 of the condyle") == \
        "right side: fossa roof gaps bridged over 30 mm2 of the condyle"


def test_long_warnings_are_wrapped_not_cut_at_the_edge():
    """A study folder's series warning (~300 characters) was cut at 150 characters mid-word with
    nothing to say so; now wrapped over two lines of at most WARNING_WIDTH characters, marked
    "..." where report.json holds more, the input path shortened to the case folder's name, and
    the footer stays within its lines."""
    from NegativeVolumeSegmentationLib.report.figure import WARNING_WIDTH, warning_lines

    series = ("/data/cohort/patient 7/study: folder holds 3 DICOM series; measured series 2 "
              "'Head bone' (H70h, 214 slices); other CT series not measured: series 3 'Head "
              "soft' (H30s, 214 slices) (to measure one, give a folder holding only its files); "
              "skipped: series 1 'Topogram' (localizer, 2 files)")
    lines = warning_lines([series])
    assert lines[0].startswith("Warning: study: folder holds 3 DICOM series; measured series 2")
    assert "/data/cohort" not in " ".join(lines)
    assert len(lines) == 2 and all(len(line) <= WARNING_WIDTH for line in lines)
    assert "series 3 'Head soft'" in " ".join(lines)    # was past the cut
    longer = series + "; " + "x " * 200
    assert warning_lines([longer])[-1].endswith("...")
    many = ["left side: warning %d" % k for k in range(9)]
    shown = warning_lines([series] + many, max_lines=5)
    assert len(shown) == 5 and shown[-1] == "... 7 more warnings in report.json", shown
    assert warning_lines(many[:5], max_lines=5) == ["Warning: " + w for w in many[:5]]
    assert warning_lines(many[:6], max_lines=5)[-1] == "... 2 more warnings in report.json"


def test_a_case_name_the_font_lacks_warns_nothing(tmp_path):
    """A case named in a script the figure's font lacks (CJK) printed matplotlib's "Glyph ...
    missing from font(s)" warnings on stderr, twice per case."""
    import warnings

    ct, lab = _two_joints(spacing=0.8)
    nv = measure_negative_volume(lab)
    rep = report.build_report(nv.sides, nv.warnings, nv.timings_s)
    path = str(tmp_path / "report.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report_figure.render_report_figure(path, ct, nv.labels, rep, nv.meshes,
                                           case=u"kopf \u00c4\u00d6 \u6d4b\u8bd5")
    assert [str(w.message) for w in caught] == [] and os.path.getsize(path) > 10000
