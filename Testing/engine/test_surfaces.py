"""Mask -> surface: closed, outward, in the right physical place for any grid geometry."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.engine import canonical_triangulation, surfaces

CENTRE = np.array([12.0, -30.0, 45.0])  # LPS mm
RADIUS = 6.0


def _ball_image(spacing=(0.5, 0.5, 0.5), direction=None, size_mm=20.0, centre=CENTRE,
                radius=RADIUS):
    """Binary ball (voxel centres within radius) on a grid with the given geometry."""
    spacing = np.asarray(spacing, float)
    direction = np.eye(3) if direction is None else np.asarray(direction, float)
    size = np.ceil(size_mm / spacing).astype(int)
    # Choose the origin so that the grid's centre is at ``centre`` whatever the direction.
    origin = centre - direction @ (spacing * (size - 1) / 2.0) + 0.137
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    idx = np.stack([i, j, k], -1).reshape(-1, 3).astype(float)
    pts = (idx * spacing) @ direction.T + origin
    inside = (np.linalg.norm(pts - centre, axis=1) <= radius).reshape(k.shape)
    img = sitk.GetImageFromArray(inside.astype(np.uint8))
    img.SetSpacing(tuple(spacing))
    img.SetOrigin(tuple(origin))
    img.SetDirection(tuple(direction.ravel()))
    return img


def _oblique():
    a = np.radians(25.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return rz @ rx


@pytest.mark.parametrize("direction", [None, np.diag([-1.0, -1.0, 1.0]), np.diag([1.0, 1.0, -1.0]),
                                       "oblique"],
                         ids=["identity", "ras-like", "left-handed", "oblique"])
def test_ball_surface_is_closed_outward_and_physical(direction):
    if isinstance(direction, str):
        direction = _oblique()
    poly = surfaces.mask_surface(_ball_image(direction=direction))
    pts = surfaces.points(poly)
    nrm = surfaces.point_normals(poly)
    radial = pts - CENTRE
    dist = np.linalg.norm(radial, axis=1)
    assert np.abs(dist - RADIUS).max() < 0.15  # within a third of a voxel everywhere
    assert np.allclose(pts.mean(axis=0), CENTRE, atol=0.05)
    assert np.min(np.sum(nrm * radial / dist[:, None], axis=1)) > 0.95  # outward
    assert np.allclose(np.linalg.norm(surfaces.cell_normals(poly), axis=1), 1.0, atol=1e-5)
    volume = surfaces.signed_volume(poly)
    assert volume == pytest.approx(4 / 3 * np.pi * RADIUS ** 3, rel=0.02)


def test_anisotropic_spacing_keeps_the_shape():
    poly = surfaces.mask_surface(_ball_image(spacing=(0.3, 0.4, 1.0), size_mm=22.0))
    dist = np.linalg.norm(surfaces.points(poly) - CENTRE, axis=1)
    assert np.median(dist) == pytest.approx(RADIUS, abs=0.15)
    assert surfaces.signed_volume(poly) == pytest.approx(4 / 3 * np.pi * RADIUS ** 3, rel=0.04)


def test_islands_dropped_and_cavities_filled():
    img = _ball_image()
    arr = sitk.GetArrayFromImage(img)
    arr[1:3, 1:3, 1:3] = 1  # a small island in a corner
    c = np.array(arr.shape) // 2
    arr[c[0] - 2:c[0] + 2, c[1] - 2:c[1] + 2, c[2] - 2:c[2] + 2] = 0  # a cavity inside the ball
    dirty = sitk.GetImageFromArray(arr)
    dirty.CopyInformation(img)
    poly = surfaces.mask_surface(dirty)
    dist = np.linalg.norm(surfaces.points(poly) - CENTRE, axis=1)
    assert np.abs(dist - RADIUS).max() < 0.15  # no vertices of the island or the cavity
    assert surfaces.signed_volume(poly) == pytest.approx(4 / 3 * np.pi * RADIUS ** 3, rel=0.02)


def test_one_voxel_thick_plate_gives_a_usable_closed_surface():
    arr = np.zeros((20, 30, 30), np.uint8)
    arr[10, 5:25, 5:25] = 1  # one voxel thick, 20 x 20 voxels
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.5, 0.5))
    poly = surfaces.mask_surface(img)
    assert poly is not None and poly.GetNumberOfPoints() > 100
    assert surfaces.signed_volume(poly) > 0
    pts = surfaces.points(poly)
    nrm = surfaces.point_normals(poly)
    top = pts[:, 2] > 5.0 + 0.1
    assert np.mean(nrm[top, 2] > 0.5) > 0.8  # the upper face points up (+z)
    assert np.mean(nrm[pts[:, 2] < 4.9, 2] < -0.5) > 0.8


def test_empty_mask_gives_none():
    img = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    assert surfaces.mask_surface(img) is None


def _blob(spacing=(0.5, 0.4, 0.6)):
    """Three overlapping balls of different radii: no symmetry of its own (numpy z, y, x)."""
    image = _ball_image(spacing=spacing, size_mm=24.0, radius=5.0)
    centres = [(CENTRE, 5.0), (CENTRE + [3.1, 1.7, -0.9], 3.6), (CENTRE + [-2.2, 2.9, 2.6], 2.8)]
    size = np.array(image.GetSize())
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), -1).reshape(-1, 3)
    origin, sp = np.array(image.GetOrigin()), np.array(image.GetSpacing())
    pts = idx * sp + origin
    inside = np.zeros(len(pts), bool)
    for centre, radius in centres:
        inside |= np.linalg.norm(pts - centre, axis=1) <= radius
    arr = inside.reshape(tuple(size)).transpose(2, 1, 0).astype(np.uint8)  # -> (z, y, x)
    return arr, origin, sp


def _image(arr, origin, spacing, direction=np.eye(3)):
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    img.SetOrigin(tuple(float(v) for v in origin))
    img.SetSpacing(tuple(float(v) for v in spacing))
    img.SetDirection(tuple(float(v) for v in np.asarray(direction).ravel()))
    return img


def _same_mesh(a, b, tolerance_mm=1e-6):
    """Same vertex set (each vertex of one within tolerance of one of the other), same counts."""
    from scipy.spatial import cKDTree
    pa, pb = surfaces.points(a), surfaces.points(b)
    assert len(pa) == len(pb) and len(surfaces.triangles(a)) == len(surfaces.triangles(b))
    return max(cKDTree(pb).query(pa)[0].max(), cKDTree(pa).query(pb)[0].max()) < tolerance_mm


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["z", "y", "x"])
def test_mirrored_mask_gives_exactly_the_mirrored_mesh(axis):
    """The mirror image of a mask (its array flipped, geometry kept) is the mirror image of the
    original about the grid's middle plane: the smoothed mesh must be that mirror image, vertex
    for vertex (flying edges' own diagonals are not mirrored: 0.1-0.2 mm before the canonical
    triangulation)."""
    arr, origin, sp = _blob()
    original = surfaces.mask_surface(_image(arr, origin, sp))
    mirrored = surfaces.mask_surface(_image(np.flip(arr, axis), origin, sp))
    k = 2 - axis  # physical x, y, z
    middle = origin[k] + (arr.shape[axis] - 1) * sp[k] / 2.0
    reflected = surfaces.points(original)
    reflected[:, k] = 2.0 * middle - reflected[:, k]
    original.GetPoints().SetData(surfaces.numpy_support.numpy_to_vtk(reflected, deep=True))
    assert _same_mesh(original, mirrored)
    # reflected points with the old winding enclose the same volume, negated
    assert surfaces.signed_volume(mirrored) == pytest.approx(-surfaces.signed_volume(original),
                                                            rel=1e-9)


def test_transposed_grid_gives_the_same_mesh():
    """The same voxels stored with x and y swapped (direction matrix swapping them back) are the
    same physical mask: the same mesh."""
    arr, origin, sp = _blob()
    original = surfaces.mask_surface(_image(arr, origin, sp))
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    transposed = surfaces.mask_surface(_image(arr.transpose(0, 2, 1), origin, sp[[1, 0, 2]],
                                              swap))
    assert _same_mesh(original, transposed)


def test_canonical_cells_fan_each_polygon_around_its_centre():
    """One cell's quadrilateral (two flying-edges triangles) becomes four triangles around the
    mean of its corners, wound as before; lone triangles are kept."""
    quad = np.array([[0.1, 0.0, 0.2], [0.5, 0.0, 0.3], [0.5, 0.4, 0.35], [0.1, 0.4, 0.25]])
    lone = np.array([[1.5, 0.1, 0.1], [1.9, 0.1, 0.1], [1.5, 0.4, 0.1]])  # next cell in x
    pts = np.vstack([quad, lone])
    tri = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]])
    new_pts, new_tri = canonical_triangulation.canonical_cells(pts, tri, (1.0, 1.0, 1.0))
    assert len(new_pts) == 8 and np.allclose(new_pts[7], quad.mean(axis=0))
    assert sorted(map(tuple, new_tri.tolist())) == sorted(
        [(4, 5, 6), (0, 1, 7), (1, 2, 7), (2, 3, 7), (3, 0, 7)])
