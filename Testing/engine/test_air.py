"""Air is never joint space: rays stop at air and no air voxel is NV, against analytic truth.

A sphere under a concentric cap: every condyle normal is radial, so the NV is the spherical
shell sector NV = (2 pi (1 - cos theta) / 3) (R^3 - r^3). Filling the half-space x > c_x (through
the sphere's centre) with air removes, by symmetry, exactly half of it; an air pocket outside
the joint changes nothing.

The head phantom with its ear canal open behind the condyle (``ear_canal="open"``: no bony front
wall, as where the real VHF head's rays crossed the canal): the truth's exact rays stop at the
canal's implicit air (phantom/truth.py), independently of the CT and of the engine. Measured
(CBCT crops, 0.5 mm, seeds 0 / 1): truth 1763 / 2276 mm3, 983 / 1590 of its rays into the air before the bone;
the engine with the CT -0.3 / -1.7 % and no NV voxel in air; without the CT +20.5 / +23.5 %,
2114 / 3125 NV voxels in the canal.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import sphere_cap_negative_volume

R_MM, GAP_MM, THETA = 6.0, 2.0, 60.0


@pytest.fixture(scope="module")
def joint():
    ph = make_analytic_phantom(seed=3, sides=("left",), spacing=(0.4,) * 3, condyle_radius_mm=R_MM,
                               joint_space_mm=GAP_MM, cap_half_angle_deg=THETA)
    return ph, np.asarray(ph.truth["left"]["condyle_center_lps_mm"], float)


def _ct_with_air(ph, where):
    """The phantom's CT with air (-1000 HU) where ``where(x, y, z)`` (LPS mm arrays) holds."""
    ct = sitk.Cast(ph.ct, sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(ct)
    z, y, x = np.indices(array.shape)
    lps = np.stack([x, y, z], -1).reshape(-1, 3) * np.asarray(ct.GetSpacing()) + ct.GetOrigin()
    inside = where(*lps.T).reshape(array.shape)
    labels = sitk.GetArrayFromImage(ph.labels)
    array[inside & ((labels == 0) | (labels >= 5))] = -1000.0  # bone stays bone
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(ct)
    return out


def test_air_half_space_through_the_joint_removes_half_the_nv(joint):
    ph, c = joint
    truth = sphere_cap_negative_volume(R_MM, R_MM + GAP_MM, THETA)
    plain = measure_negative_volume(ph.labels, ct=ph.ct).sides["left"]  # the phantom has no air there
    assert plain["negative_volume_mm3"] == pytest.approx(truth, rel=0.06)
    ct = _ct_with_air(ph, lambda x, y, z: x > c[0])
    res = measure_negative_volume(ph.labels, ct=ct)
    half = res.sides["left"]["negative_volume_mm3"]
    assert half == pytest.approx(truth / 2.0, rel=0.08)
    nv = sitk.GetArrayFromImage(res.labels) == 5
    assert not np.any(nv & (sitk.GetArrayFromImage(ct) < -400))  # no air voxel is NV
    thickness = res.meshes["left"]["condyle"]
    from vtk.util.numpy_support import vtk_to_numpy
    from NegativeVolumeSegmentationLib.engine.nv_mask import THICKNESS_ARRAY
    h = vtk_to_numpy(thickness.GetPointData().GetArray(THICKNESS_ARRAY))
    xs = vtk_to_numpy(thickness.GetPoints().GetData())[:, 0]
    assert np.all(h[xs > c[0] + 0.5] == 0)  # rays into the air stopped: no thickness there
    assert np.median(h[(xs < c[0] - 0.5) & (h > 0)]) == pytest.approx(GAP_MM, abs=0.2)


def test_air_away_from_the_joint_changes_nothing(joint):
    ph, c = joint
    far = _ct_with_air(ph, lambda x, y, z: z < c[2] - R_MM - 3.0)  # below the condyle
    plain = measure_negative_volume(ph.labels).sides["left"]
    with_air = measure_negative_volume(ph.labels, ct=far).sides["left"]
    assert with_air["negative_volume_mm3"] == plain["negative_volume_mm3"]
    assert with_air["joint_space_min_mm"] == plain["joint_space_min_mm"]


@pytest.fixture(scope="module")
def open_canal():
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    ph = make_phantom("head", seed=0, fov="cbct-left", mouth="closed", spacing=(0.5,) * 3,
                      nv_step_mm=0.4, ear_canal="open")
    # the canal's inside: below -400 HU on the CT and so one voxel inwards (the blurred edge,
    # half soft tissue and half air, is where the truth's exact canal and the CT may differ)
    return ph, ndimage.binary_erosion(sitk.GetArrayFromImage(ph.ct) < -400)


@pytest.mark.slow
def test_open_ear_canal_is_not_joint_space(open_canal):
    ph, air = open_canal
    truth = ph.truth["left"]
    assert truth["rays_into_air"] > 500, truth["rays_into_air"]  # the canal is within reach
    assert not ((sitk.GetArrayFromImage(ph.labels) == 5) & air).any()  # truth labels: no air
    with_ct = measure_negative_volume(ph.labels, ct=ph.ct)
    got = with_ct.sides["left"]["negative_volume_mm3"]
    assert abs(got - truth["negative_volume_mm3"]) <= 0.05 * truth["negative_volume_mm3"], got
    assert not ((sitk.GetArrayFromImage(with_ct.labels) == 5) & air).any()
    # without the CT nothing tells the engine where the air is: the NV runs into the canal
    blind = measure_negative_volume(ph.labels)
    assert blind.sides["left"]["negative_volume_mm3"] > 1.1 * truth["negative_volume_mm3"]
    assert ((sitk.GetArrayFromImage(blind.labels) == 5) & air).sum() > 500
