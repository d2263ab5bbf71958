"""Slicer's own views, rendered offscreen (slicer_render), checked pixel by pixel against geometry.

Truth is computed without the renderer: a CT whose HU is a known linear function of the LPS
position (so every pixel's grey follows from Slicer's CT-bone window, (HU + 100) / 1000 * 255),
balls of known centre and radius as segments (so every pixel's segment is known), the segment
colours of docs/interfaces.md, the analytic sphere phantom's joint geometry and its joint space mapped
through the thickness colour map. Skips when slicer-core or offscreen OpenGL is missing.
"""


import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationLib.scene import mrml_bridge
from NegativeVolumeSegmentationSelfTest import render as slicer_render  # noqa: E402
from NegativeVolumeSegmentationLib.errors import InputError  # noqa: E402

_PROBLEM = slicer_render.offscreen_problem(isolated=True)
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))

# docs/interfaces.md colours, written out (the contract is the truth, not labels.py).
COLOURS = {1: (0.90, 0.85, 0.55), 2: (0.90, 0.70, 0.40), 3: (0.55, 0.70, 0.90),
           4: (0.40, 0.55, 0.85), 5: (0.30, 0.85, 0.35), 6: (0.95, 0.35, 0.30)}
CENTRE = np.array([10.0, -5.0, 3.0])  # LPS mm
# Balls (label: offset from CENTRE in LPS mm, radius mm): left condyle at the patient's left.
BALLS = {1: ((8.0, 0.0, 0.0), 4.0), 2: ((-8.0, 0.0, 0.0), 4.0), 3: ((0.0, 0.0, -8.0), 3.0),
         4: ((0.0, -8.0, 0.0), 3.0), 5: ((0.0, 0.0, 8.0), 3.0), 6: ((0.0, 8.0, 0.0), 3.0)}


def ramp_hu(points_lps):
    """The ramp CT's HU at LPS points (mm): 400 + 12 dx - 4 dy + 6 dz around CENTRE."""
    d = np.asarray(points_lps, float) - CENTRE
    return 400.0 + 12.0 * d[..., 0] - 4.0 * d[..., 1] + 6.0 * d[..., 2]


def bone_grey(hu):
    """Slicer's CT-bone window (width 1000, level 400 HU) as 0-255 grey."""
    return np.clip((np.asarray(hu, float) + 100.0) / 1000.0, 0.0, 1.0) * 255.0


def _oblique_image(values_of_points, dtype):
    """64 x 64 x 48 mm grid (0.5 mm) rotated 20 deg about z and 10 deg about x, centred on
    CENTRE; voxels hold ``values_of_points(LPS points)``."""
    a, b = np.radians(20.0), np.radians(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    rx = np.array([[1.0, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    direction = rz @ rx
    size = np.array([128, 128, 96])
    spacing = 0.5
    origin = CENTRE - direction @ (spacing * (size - 1) / 2.0)
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    points = origin + (np.stack([i, j, k], axis=-1) * spacing) @ direction.T
    image = sitk.GetImageFromArray(values_of_points(points).astype(dtype))
    image.SetSpacing([spacing] * 3)
    image.SetOrigin(origin.tolist())
    image.SetDirection(direction.ravel().tolist())
    return image


def _ball_labels(points):
    labels = np.zeros(points.shape[:-1], np.uint8)
    for value, (offset, radius) in BALLS.items():
        labels[np.linalg.norm(points - (CENTRE + offset), axis=-1) <= radius] = value
    return labels


def _truth_label(point, margin=0.8):
    """(label or 0, True when ``point`` is further than ``margin`` mm from every ball surface)."""
    for value, (offset, radius) in BALLS.items():
        distance = np.linalg.norm(point - (CENTRE + offset))
        if abs(distance - radius) < margin:
            return value, False
        if distance < radius:
            return value, True
    return 0, True


@pytest.fixture
def ramp_scene(scene):
    ct = _oblique_image(ramp_hu, np.int16)
    ct_node = mrml_bridge.volume_node_from_image(ct, scene, "ramp CT")
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "balls")
    mrml_bridge.segmentation_from_labels(_oblique_image(_ball_labels, np.uint8),
                                         segmentation_node)
    return scene, ct, ct_node, segmentation_node


def _fill_alpha(segmentation_node):
    display = segmentation_node.GetDisplayNode()
    return display.GetOpacity() * display.GetOpacity2DFill()


def _compare_view(image, ct, alpha, step=8):
    """Measured and expected RGB at a grid of pixels inside the CT, away from ball surfaces.

    Returns (measured [n, 3], expected [n, 3], labels [n], LPS points [n, 3]) with expected =
    alpha * 255 * colour + (1 - alpha) * bone-window grey of the ramp HU at the pixel's point.
    """
    measured, expected, found, points = [], [], [], []
    size = np.array(ct.GetSize())
    for row in range(4, image.pixels.shape[0] - 4, step):
        for column in range(4, image.pixels.shape[1] - 4, step):
            point = image.lps_of_pixel(row, column)
            index = np.array(ct.TransformPhysicalPointToContinuousIndex(point.tolist()))
            if np.any(index < 1) or np.any(index > size - 2):
                continue
            label, clear = _truth_label(point)
            if not clear:
                continue
            grey = bone_grey(ramp_hu(point))
            colour = np.full(3, grey)
            if label:
                colour = alpha * 255.0 * np.array(COLOURS[label]) + (1.0 - alpha) * grey
            measured.append(image.pixels[row, column].astype(float))
            expected.append(colour)
            found.append(label)
            points.append(point)
    return np.array(measured), np.array(expected), np.array(found), np.array(points)


@pytest.mark.parametrize("orientation", slicer_render.ORIENTATIONS)
def test_slice_view_shows_segments_over_the_ct(ramp_scene, orientation):
    scene, ct, ct_node, segmentation_node = ramp_scene
    with slicer_render.SceneRenderer(scene, size=(200, 200)) as renderer:
        image = renderer.slice_view(orientation, CENTRE, ct_node, field_of_view_mm=40.0)
    assert image.pixels.shape == (200, 200, 3)
    # The slice passes through CENTRE and the view is centred on it.
    row, column, off_plane = image.pixel_of_lps(CENTRE)
    assert abs(row - 99.5) <= 1 and abs(column - 99.5) <= 1 and abs(off_plane) < 1e-6
    _r, _c, distance = image.pixel_of_lps(CENTRE + np.array([0.0, 0.0, 5.0]))
    assert abs(abs(distance) - (5.0 if orientation == "Axial" else 0.0)) < 1e-6
    alpha = _fill_alpha(segmentation_node)
    assert 0.2 < alpha < 0.8  # Slicer's default fill (0.5): the CT shows through
    measured, expected, labels, points = _compare_view(image, ct, alpha)
    in_plane = {"Axial": {1, 2, 4, 6}, "Coronal": {1, 2, 3, 5}, "Sagittal": {3, 4, 5, 6}}
    assert set(labels) == {0} | in_plane[orientation], sorted(set(labels))
    for label in sorted(set(labels)):
        err = np.abs(measured - expected)[labels == label]
        print(orientation, label, "n", len(err), "median |error| %.2f, max %.2f"
              % (np.median(err), err.max()))
        assert np.median(err) < 1.5 and err.max() < 4.0, (orientation, label, err.max())
    # The CT is visible around and under the overlay: grey where no segment is, varying over
    # the view as the ramp does, and the blended segment pixels vary with the CT below them.
    grey = measured[labels == 0]
    assert np.abs(grey - grey.mean(axis=1, keepdims=True)).max() < 1.0  # R = G = B
    assert np.ptp(grey[:, 0]) > 60.0
    # Under the fill: measured - alpha * colour = (1 - alpha) * CT grey (slope and correlation).
    inside = labels > 0
    colours = np.array([COLOURS[v] for v in labels[inside]])
    under = (measured[inside] - alpha * 255.0 * colours).ravel()
    grey_truth = np.repeat(bone_grey(ramp_hu(points[inside])), 3)
    slope, _intercept = np.polyfit(grey_truth, under, 1)
    correlation = np.corrcoef(grey_truth, under)[0, 1]
    print(orientation, "under the fill: slope %.3f (1 - alpha = %.3f), r = %.4f"
          % (slope, 1 - alpha, correlation))
    assert abs(slope - (1.0 - alpha)) < 0.05 and correlation > 0.98


def test_left_is_on_screen_right_and_brighter(ramp_scene):
    """Radiological convention: patient's left (LPS +x, ramp rising) on the screen's right."""
    scene, _ct, ct_node, _segmentation_node = ramp_scene
    with slicer_render.SceneRenderer(scene, size=(200, 200)) as renderer:
        image = renderer.slice_view("Axial", CENTRE, ct_node, field_of_view_mm=40.0)
    left_row, left_column, _ = image.pixel_of_lps(CENTRE + np.array([8.0, 0.0, 0.0]))
    right_row, right_column, _ = image.pixel_of_lps(CENTRE + np.array([-8.0, 0.0, 0.0]))
    assert left_column >= 139 and right_column <= 60 and left_row == right_row
    np.testing.assert_allclose(image.pixels[left_row, left_column],
                               [0.5 * 255 * c + 0.5 * bone_grey(400 + 96) for c in COLOURS[1]],
                               atol=6)
    np.testing.assert_allclose(image.pixels[right_row, right_column],
                               [0.5 * 255 * c + 0.5 * bone_grey(400 - 96) for c in COLOURS[2]],
                               atol=6)
    # Anterior (LPS -y) is up on an axial view.
    top, _c, _ = image.pixel_of_lps(CENTRE + np.array([0.0, -8.0, 0.0]))
    assert top <= 60


def test_segmentation_added_after_the_first_render_is_blended_over_the_ct(scene):
    ct = _oblique_image(ramp_hu, np.int16)
    ct_node = mrml_bridge.volume_node_from_image(ct, scene, "ramp CT")
    with slicer_render.SceneRenderer(scene, size=(120, 120)) as renderer:
        before = renderer.slice_view("Coronal", CENTRE, ct_node, field_of_view_mm=40.0)
        measured, expected, labels, points = _compare_view(before, ct, 0.0, step=6)
        assert set(labels) == {0, 1, 2, 3, 5}  # the balls' places: only the CT drawn yet
        assert np.abs(measured - expected).max() < 8.0
        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "late")
        mrml_bridge.segmentation_from_labels(_oblique_image(_ball_labels, np.uint8),
                                             segmentation_node)
        after = renderer.slice_view("Coronal", CENTRE, ct_node, field_of_view_mm=40.0)
    measured, expected, labels, points = _compare_view(after, ct, _fill_alpha(segmentation_node), step=6)
    assert np.abs(measured - expected).max() < 8.0, np.abs(measured - expected).max()


def test_close_removes_view_nodes_and_keeps_data(ramp_scene):
    scene, _ct, ct_node, segmentation_node = ramp_scene
    ids = set(scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes()))
    renderer = slicer_render.SceneRenderer(scene, size=(64, 64))
    renderer.slice_view("Sagittal", CENTRE, ct_node)
    renderer.threed_view(CENTRE)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSliceNode") == 1
    assert scene.GetNumberOfNodesByClass("vtkMRMLViewNode") == 1
    kept = scene.AddNewNodeByClass("vtkMRMLTableNode", "made while rendering")
    renderer.close()
    after = set(scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes()))
    assert after == ids | {kept.GetID()}


def test_bad_requests_raise_input_error(ramp_scene):
    scene, _ct, ct_node, _segmentation_node = ramp_scene
    with slicer_render.SceneRenderer(scene, size=(32, 32)) as renderer:
        with pytest.raises(InputError, match="orientation"):
            renderer.slice_view("Oblique", CENTRE, ct_node)
        with pytest.raises(InputError, match="CT volume"):
            renderer.slice_view("Axial", CENTRE, None)
        with pytest.raises(InputError, match="direction"):
            renderer.threed_view(CENTRE, from_direction_lps=(0, 0, 0))
    with pytest.raises(InputError):
        slicer_render.SceneRenderer(None)


# ----------------------------------------------------------------------------- the Logic's scene
@pytest.fixture
def joint_scene(scene):
    """The analytic sphere phantom (seed 2) run through the module's Logic: CT, MC/TB segments,
    NV segments, thickness models. Truth: condyle centre c, radius r, joint space g, TB cap
    3 mm thick from r + g, over the directions within the cap half-angle of superior."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    phantom = make_phantom("analytic", seed=2, variant="sphere", condyle_radius_mm=6.5)
    ct_node = mrml_bridge.volume_node_from_image(phantom.ct, scene, "analytic CT")
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation_node, values=[1, 2, 3, 4])
    results = MeasurementLogic().process(ct_node, segmentation_node, segment=False)
    return scene, phantom, ct_node, segmentation_node, results


def _ct_grey(ct, point_lps):
    """Bone-window grey of the phantom CT at an LPS point (linear interpolation, as Slicer)."""
    index = np.array(ct.TransformPhysicalPointToContinuousIndex([float(v) for v in point_lps]))
    array = sitk.GetArrayFromImage(ct).astype(float)
    base = np.floor(index).astype(int)
    frac = index - base
    value = 0.0
    for corner in np.ndindex(2, 2, 2):
        weight = np.prod([f if c else 1 - f for c, f in zip(corner, frac)])
        i, j, k = base + np.array(corner)
        value += weight * array[k, j, i]
    return bone_grey(value)


SIDE_LABELS = {"left": (1, 3, 5), "right": (2, 4, 6)}  # condyle, temporal bone, NV
SEGMENT_NAMES = {1: "Left mandibular condyle", 2: "Right mandibular condyle",
                 3: "Left temporal bone", 4: "Right temporal bone",
                 5: "Left negative volume", 6: "Right negative volume"}  # docs/interfaces.md


def test_joint_centres_carry_segment_colours(joint_scene):
    scene, phantom, ct_node, segmentation_node, _results = joint_scene
    alpha = _fill_alpha(segmentation_node)
    with slicer_render.SceneRenderer(scene, size=(160, 160)) as renderer:
        for side, (mc, tb, nv) in SIDE_LABELS.items():
            params = phantom.truth["parameters"][side]
            centre = np.array(phantom.truth[side]["condyle_center_lps_mm"])
            r, g = params["condyle_radius_mm"], params["joint_space_mm"]
            up = np.array([0.0, 0.0, 1.0])
            probes = {"Axial": [(centre, mc), (centre + (r + g / 2) * up, nv)],
                      "Coronal": [(centre, mc), (centre + (r + g / 2) * up, nv),
                                  (centre + (r + g + 1.5) * up, tb)],
                      "Sagittal": [(centre, mc), (centre + (r + g / 2) * up, nv),
                                   (centre + (r + g + 1.5) * up, tb)]}
            for orientation, points in probes.items():
                for point, label in points:
                    # The view goes through the probe (the axial one at its height) and is
                    # centred on the joint's projection.
                    image = renderer.slice_view(orientation, point, ct_node, field_of_view_mm=40.0)
                    row, column, off_plane = image.pixel_of_lps(point)
                    assert abs(off_plane) < 1e-6 and 60 < row < 100 and 60 < column < 100
                    expected = (alpha * 255.0 * np.array(COLOURS[label])
                                + (1.0 - alpha) * _ct_grey(phantom.ct, point))
                    measured = image.pixels[row, column].astype(float)
                    print(side, orientation, label, measured, np.round(expected, 1))
                    assert np.abs(measured - expected).max() < 6.0, (side, orientation, label)
        # One wide axial view through both condyle centres: the patient's left joint is on the
        # screen's right.
        left = np.array(phantom.truth["left"]["condyle_center_lps_mm"])
        right = np.array(phantom.truth["right"]["condyle_center_lps_mm"])
        middle = (left + right) / 2.0
        image = renderer.slice_view("Axial", middle, ct_node, field_of_view_mm=130.0)
        for centre, label in ((left, 1), (right, 2)):
            row, column, off_plane = image.pixel_of_lps(centre)
            assert (column > 120) == (label == 1) and abs(off_plane) < 1.0
            expected = alpha * 255.0 * np.array(COLOURS[label]) + (1.0 - alpha) * _ct_grey(
                phantom.ct, image.lps_of_pixel(row, column))
            assert np.abs(image.pixels[row, column] - expected).max() < 6.0, label


def _thickness_colour(mm):
    """RGB 0-255 of the thickness colour map (mrml_bridge.THICKNESS_COLORS, linear) at mm."""
    values = np.array([v for v, _rgb in mrml_bridge.THICKNESS_COLORS])
    colours = np.array([rgb for _v, rgb in mrml_bridge.THICKNESS_COLORS])
    return 255.0 * np.array([np.interp(mm, values, colours[:, c]) for c in range(3)])


def test_threed_view_shows_thickness_nv_and_temporal_bone(joint_scene):
    """Looking straight down on a condyle top (the view's centre pixel): the thickness model
    coloured at the joint space, the NV over it, the temporal bone over both."""
    scene, phantom, _ct_node, segmentation_node, _results = joint_scene
    with slicer_render.SceneRenderer(scene, size=(120, 120)) as renderer:
        for side, (mc, tb, nv) in SIDE_LABELS.items():
            params = phantom.truth["parameters"][side]
            centre = np.array(phantom.truth[side]["condyle_center_lps_mm"])
            top = centre + np.array([0.0, 0.0, params["condyle_radius_mm"]])
            names = SEGMENT_NAMES
            layers = (({names[mc]: 0, names[tb]: 0, names[nv]: 0},
                       _thickness_colour(params["joint_space_mm"]), 15.0),
                      ({names[mc]: 0, names[tb]: 0}, 255.0 * np.array(COLOURS[nv]), 6.0),
                      ({}, 255.0 * np.array(COLOURS[tb]), 6.0))
            for hidden, expected, tolerance in layers:
                pixels = renderer.threed_view(top, from_direction_lps=(0, 0, 1),
                                              view_up_lps=(0, -1, 0), distance_mm=60.0,
                                              segment_opacity=hidden)
                measured = pixels[60, 60].astype(float)
                print(side, sorted(hidden), measured, np.round(expected, 1))
                assert np.abs(measured - expected).max() < tolerance, (side, sorted(hidden))
        # Display settings changed for a picture are put back.
        display = segmentation_node.GetDisplayNode()
        segmentation = segmentation_node.GetSegmentation()
        for index in range(segmentation.GetNumberOfSegments()):
            segment_id = segmentation.GetNthSegmentID(index)
            assert display.GetSegmentOpacity3D(segment_id) == 1.0
            assert display.GetSegmentVisibility3D(segment_id)



def test_threed_legend_shows_the_thickness_colour_map(joint_scene):
    """With a legend for a thickness model, the view's right edge holds the colour map's red
    (thin, 0.05 mm) and blue (5 mm) bar; without it, neither; the legend node goes away."""
    scene, phantom, _ct_node, _segmentation_node, results = joint_scene
    for legend_id in results["nodes"]["color_legends"].values():  # the Logic's own legends
        scene.RemoveNode(scene.GetNodeByID(legend_id))
    model = scene.GetNodeByID(results["nodes"]["thickness_models"]["left"])
    centre = np.array(phantom.truth["left"]["condyle_center_lps_mm"])
    red, blue = _thickness_colour(0.05), _thickness_colour(5.0)

    def count(pixels, colour):
        edge = pixels[:, int(0.75 * pixels.shape[1]):].astype(float)
        return int(np.count_nonzero(np.abs(edge - colour).max(axis=-1) < 25.0))

    with slicer_render.SceneRenderer(scene, size=(200, 200)) as renderer:
        plain = renderer.threed_view(centre, distance_mm=80.0)
        legend = renderer.threed_view(centre, distance_mm=80.0, legend_model=model)
    print("legend pixels red %d blue %d, without legend %d %d"
          % (count(legend, red), count(legend, blue), count(plain, red), count(plain, blue)))
    assert count(legend, red) > 8 and count(legend, blue) > 8
    assert count(plain, red) == 0 and count(plain, blue) == 0
    assert scene.GetNumberOfNodesByClass("vtkMRMLColorLegendDisplayNode") == 0


def test_non_square_view_keeps_the_geometry(ramp_scene):
    """A 240 x 150 view: same mm per pixel both ways, every sampled pixel where the CT says."""
    scene, ct, ct_node, segmentation_node = ramp_scene
    with slicer_render.SceneRenderer(scene, size=(240, 150)) as renderer:
        image = renderer.slice_view("Coronal", CENTRE, ct_node, field_of_view_mm=48.0)
    assert image.pixels.shape == (150, 240, 3)
    left_edge, right_edge = image.lps_of_pixel(75, 0), image.lps_of_pixel(75, 239)
    top, bottom = image.lps_of_pixel(0, 120), image.lps_of_pixel(149, 120)
    np.testing.assert_allclose(np.linalg.norm(right_edge - left_edge), 48.0 * 239 / 240, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(bottom - top), 48.0 * 149 / 240, atol=1e-6)
    assert top[2] > bottom[2]  # superior up on a coronal view
    measured, expected, labels, _points = _compare_view(image, ct, _fill_alpha(segmentation_node),
                                                        step=6)
    assert set(labels) == {0, 1, 2, 3, 5}
    assert np.abs(measured - expected).max() < 4.0


def test_png_round_trip(tmp_path):
    """write_png keeps the values and the orientation (row 0 is the picture's top)."""
    pixels = np.zeros((30, 50, 3), np.uint8)
    pixels[:10, :, 0] = 255  # red band at the top
    pixels[:, 40:, 2] = 200  # blue band at the right
    pixels[25, 5] = (1, 2, 3)
    path = tmp_path / "picture.png"
    slicer_render.write_png(pixels, path)
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert back.shape == (30, 50, 3)
    np.testing.assert_array_equal(back, pixels)
