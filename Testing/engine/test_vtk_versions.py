"""The engine gives the same answer on every VTK generation 3D Slicer ships (9.2 ... 9.6).

1. Across VTK versions: the engine runs in each environment that ``scripts/engine_vtk_matrix.py``
   built under ``.envs/vtk-<version>/`` (Slicer 5.8's Python 3.9 package set with one VTK each)
   on the true labels of head phantom 100010 (--fov head), and must match this environment's
   numbers: negative volume within 0.5 %, minimum joint space within 0.05 mm, both joints.
   Before the engine's own smoothing and ray caster, VTK 9.2.6 measured 1940.1 / 1999.0 mm^3 and
   0.00 / 0.00 mm there against 1977.2 / 2124.8 mm^3 and 1.77 / 2.44 mm on VTK >= 9.4.
2. The engine's numpy pieces against independent references: the ray caster against a
   brute-force solve over every triangle (its own formula: a 3x3 linear system per ray and
   triangle), and the windowed-sinc smoothing and normals against VTK's own filters.
"""

import importlib.util
import os

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkVersion
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

from NegativeVolumeSegmentationLib.engine import inflate, surfaces
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
from NegativeVolumeSegmentationLib.phantom import make_phantom
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MATRIX_SCRIPT = os.path.join(REPO, "scripts", "engine_vtk_matrix.py")
PHANTOM_SEED = 100010
NV_TOLERANCE = 0.005  # relative
JOINT_SPACE_TOLERANCE_MM = 0.05


def _matrix():
    spec = importlib.util.spec_from_file_location("engine_vtk_matrix", MATRIX_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def matrix_versions():
    matrix = _matrix()
    versions = matrix.built_versions()
    if not versions:
        pytest.skip("no VTK matrix environments under .envs/vtk-<version>/: build them with "
                    "`python3 scripts/engine_vtk_matrix.py --build-only` (needs PyPI)")
    return matrix, versions


@pytest.fixture(scope="module")
def phantom_labels(tmp_path_factory):
    """True labels of head phantom 100010 (whole head) written once; main-env numbers."""
    ph = make_phantom("head", seed=PHANTOM_SEED, fov="head")
    path = str(tmp_path_factory.mktemp("phantom") / "labels.nii.gz")
    sitk.WriteImage(ph.labels, path, useCompression=True)
    result = measure_negative_volume(sitk.ReadImage(path))
    return path, result.sides


@pytest.mark.slow
def test_every_vtk_version_measures_the_same(matrix_versions, phantom_labels):
    matrix, versions = matrix_versions
    path, main_sides = phantom_labels
    failures = []
    for version in versions:
        sides = matrix.run_engine(matrix.env_python(version), path)
        for side in ("left", "right"):
            ref, got = main_sides[side], sides[side]
            assert ref is not None, "main environment did not measure the %s joint" % side
            if got is None:
                failures.append("VTK %s: %s joint not measured" % (version, side))
                continue
            nv_err = got["nv_mm3"] / ref["negative_volume_mm3"] - 1.0
            js_err = got["js_min_mm"] - ref["joint_space_min_mm"]
            if abs(nv_err) > NV_TOLERANCE or abs(js_err) > JOINT_SPACE_TOLERANCE_MM:
                failures.append("VTK %s %s: NV %.1f mm3 (main %.1f, %+.2f %%), min joint space "
                                "%.2f mm (main %.2f)" % (
                                    version, side, got["nv_mm3"], ref["negative_volume_mm3"],
                                    100 * nv_err, got["js_min_mm"], ref["joint_space_min_mm"]))
    assert not failures, "\n".join(failures)


# --- The ray caster against a brute-force reference ---------------------------------------


class BruteForceCaster(object):
    """Nearest hit of each ray over every triangle, each by solving o + t d = a + u e1 + v e2
    as a 3x3 linear system (numpy.linalg.solve): no candidate search, no Moller-Trumbore."""

    def __init__(self, pts, tri):
        pts = np.asarray(pts, float)
        self.a = pts[tri[:, 0]]
        self.e1 = pts[tri[:, 1]] - self.a
        self.e2 = pts[tri[:, 2]] - self.a

    def first_hits(self, origins, directions, length):
        origins = np.asarray(origins, float).reshape(-1, 3)
        directions = np.asarray(directions, float).reshape(-1, 3)
        best_t = np.full(len(origins), np.inf)
        best_tri = np.full(len(origins), -1, np.int64)
        for i in range(len(origins)):
            mat = np.stack([-np.broadcast_to(directions[i], self.e1.shape), self.e1, self.e2],
                           axis=2)
            det = np.linalg.det(mat)
            ok = np.abs(det) > 1e-12 * np.linalg.norm(self.e1, axis=1) * np.linalg.norm(
                self.e2, axis=1)
            sol = np.linalg.solve(mat[ok], (origins[i] - self.a[ok])[:, :, None])[:, :, 0]
            t, u, v = sol[:, 0], sol[:, 1], sol[:, 2]
            tol = 1e-9
            inside = (u >= -tol) & (v >= -tol) & (u + v <= 1 + tol) & (t >= 0) & (t <= length)
            if inside.any():
                ids = np.nonzero(ok)[0][inside]
                k = int(np.argmin(t[inside]))
                best_t[i], best_tri[i] = t[inside][k], ids[k]
        return best_t, best_tri


@pytest.fixture(scope="module")
def small_joint():
    """Sphere condyle (r 4 mm) under a concentric cap 1 mm away, 0.5 mm voxels."""
    ph = make_analytic_phantom(seed=3, sides=("left",), condyle_radius_mm=4.0,
                               joint_space_mm=1.0, cap_half_angle_deg=60.0)
    return ph


def test_ray_caster_matches_brute_force(small_joint):
    tb = surfaces.mask_surface(small_joint.labels == 3)
    mc = surfaces.mask_surface(small_joint.labels == 1)
    pts, tri = surfaces.points(tb), surfaces.triangles(tb)
    rng = np.random.default_rng(0)
    # Condyle rays along the normals, plus random rays from around the joint in any direction
    # (many start inside the bone, many run along it).
    mc_pts, mc_nrm = surfaces.points(mc), surfaces.point_normals(mc)
    pick = rng.choice(len(mc_pts), 150, replace=False)
    centre = pts.mean(axis=0)
    rand_o = centre + rng.uniform(-8, 8, (150, 3))
    rand_d = rng.normal(size=(150, 3))
    rand_d /= np.linalg.norm(rand_d, axis=1, keepdims=True)
    origins = np.vstack([mc_pts[pick], rand_o])
    directions = np.vstack([mc_nrm[pick], rand_d])
    length = 7.3
    t, cell = inflate.TriangleRayCaster(pts, tri).first_hits(origins, directions, length)
    t_ref, cell_ref = BruteForceCaster(pts, tri).first_hits(origins, directions, length)
    assert (cell_ref >= 0).sum() > 50 and (cell_ref < 0).sum() > 50  # both kinds are tested
    assert np.array_equal(cell >= 0, cell_ref >= 0)
    met = cell >= 0
    assert np.allclose(t[met], t_ref[met], atol=1e-9, rtol=0)
    # Same triangle, or a neighbour hit at the same point (a ray through a shared edge).
    same = cell[met] == cell_ref[met]
    assert same.mean() > 0.95


def test_engine_unchanged_with_brute_force_rays(small_joint, monkeypatch):
    fast = measure_negative_volume(small_joint.labels).sides["left"]
    monkeypatch.setattr(inflate, "TriangleRayCaster", BruteForceCaster)
    slow = measure_negative_volume(small_joint.labels).sides["left"]
    for key in ("negative_volume_mm3", "joint_space_min_mm", "joint_space_mean_mm",
                "contact_fraction", "joint_space_superior_mm"):
        assert fast[key] == pytest.approx(slow[key], rel=1e-9, abs=1e-9), key


# --- Smoothing and normals against VTK's own filters --------------------------------------


def _vtk_flying_edges(mask):
    arr = np.pad(np.asarray(mask, bool), 1).astype(np.uint8)
    img = vtkImageData()
    img.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    img.SetSpacing(0.5, 0.4, 0.6)
    img.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True))
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(img)
    fe.SetValue(0, 1)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    fe.Update()
    return fe.GetOutput()


def _ellipsoid_mask():
    z, y, x = np.mgrid[:30, :36, :40]
    return ((x - 20) / 14.0) ** 2 + ((y - 18) / 11.0) ** 2 + ((z - 15) / 9.0) ** 2 <= 1.0


@pytest.mark.parametrize("window", surfaces.WINDOWS)
def test_windowed_sinc_matches_vtk(window):
    sinc = vtkWindowedSincPolyDataFilter()
    if window == "nuttall" and not hasattr(sinc, "SetWindowFunctionToNuttall"):
        pytest.skip("VTK %s has only the Hamming window" % vtkVersion.GetVTKVersion())
    if hasattr(sinc, "SetWindowFunction"):
        getattr(sinc, "SetWindowFunctionTo" + window.capitalize())()
    raw = _vtk_flying_edges(_ellipsoid_mask())
    sinc.SetInputData(raw)
    sinc.SetNumberOfIterations(40)
    sinc.SetPassBand(0.01)
    sinc.BoundarySmoothingOff()
    sinc.FeatureEdgeSmoothingOff()
    sinc.NonManifoldSmoothingOn()
    sinc.NormalizeCoordinatesOn()
    sinc.Update()
    expected = surfaces.points(sinc.GetOutput())
    ours = surfaces.windowed_sinc(surfaces.points(raw), surfaces.triangles(raw), 40, 0.01, window)
    moved = np.linalg.norm(expected - surfaces.points(raw), axis=1)
    assert np.median(moved) > 0.05  # the smoothing really moves the points
    assert np.abs(ours - expected).max() < 1e-4  # VTK keeps single-precision points


def test_normals_match_vtk():
    raw = _vtk_flying_edges(_ellipsoid_mask())
    pts, tri = surfaces.points(raw), surfaces.triangles(raw)
    pts = surfaces.windowed_sinc(pts, tri, 40, 0.01)
    ours = surfaces._normals(pts, tri)
    normals = vtkPolyDataNormals()
    normals.SetInputData(ours)
    normals.ComputePointNormalsOn()
    normals.ComputeCellNormalsOn()
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.AutoOrientNormalsOff()
    normals.Update()
    ref = normals.GetOutput()
    assert np.array_equal(surfaces.triangles(ref), tri)  # already consistently wound
    assert np.abs(surfaces.point_normals(ours) - surfaces.point_normals(ref)).max() < 1e-5
    assert np.abs(surfaces.cell_normals(ours) - surfaces.cell_normals(ref)).max() < 1e-5
    # Outward: the normals point away from the ellipsoid's centre.
    centre = pts.mean(axis=0)
    assert np.all(np.einsum("ij,ij->i", surfaces.point_normals(ours), pts - centre) > 0)
