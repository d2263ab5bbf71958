"""The engine's bone surfaces against the head phantom's exact implicit geometry.

Condyle (MC) and temporal-bone (TB) meshes are built from the 0.5 mm CBCT-like crops' labels as
the engine builds them (:func:`surfaces.mask_surface`, the TB with the engine's smoothing); the
truth is the phantom's implicit shapes (:class:`phantom.exact_joint.ExactJoint`), independent of
the meshes. Measured (seeds 9 / 4, 2026-12-06): over the condyle vertices whose exact ray meets
the TB (the contact region, 1718 / 2106 vertices) the mesh normals lie 1.71 / 1.91 deg (median) and
4.22 / 4.25 deg (95th percentile) from the exact ones; rays from those vertices along the exact
normals meet the TB mesh and the exact TB at the same length within 0.022 / 0.023 mm (median) and
0.09 / 0.13 mm (95th percentile), and 99.64 / 99.72 % of the condyle's rays agree on hit or miss.
"""

import numpy as np
import pytest

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.engine import inflate, measure, surfaces

SEEDS = (9, 4)   # the right joint of seed 9 (the crops' largest NV deficit), the left of seed 4
MAX_DISTANCE_MM = 10.0


@pytest.fixture(scope="module")
def joints(cbct_joint_phantom):
    """Per seed: (mesh vertices, mesh normals, exact normals, engine (h, hit) and exact (h, hit)
    of the rays from the vertices along the exact normals, no air)."""
    rows = {}
    for seed in SEEDS:
        side, phantom = cbct_joint_phantom(seed)   # conftest.py: 0.5 mm crops, shared
        exact = phantom.exact[side]
        mc = surfaces.mask_surface(phantom.labels == L.CONDYLE[side])
        tb = surfaces.mask_surface(phantom.labels == L.TEMPORAL_BONE[side],
                                   smoothing=measure.TB_SMOOTHING)
        verts, normals = surfaces.points(mc), surfaces.point_normals(mc)
        true_normals = exact.condyle_normals(verts)
        engine = inflate.TemporalBoneRays(tb).lengths(verts, true_normals, MAX_DISTANCE_MM)
        truth = exact.bone_ray_lengths(verts, true_normals, MAX_DISTANCE_MM, air=False)
        rows[seed] = verts, normals, true_normals, engine, truth
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_condyle_normals_in_the_contact_region(joints, seed):
    _, normals, true_normals, _, (_, contact) = joints[seed]
    assert contact.sum() > 1000, "seed %d: only %d contact vertices" % (seed, contact.sum())
    cosine = np.clip(np.einsum("ij,ij->i", normals[contact], true_normals[contact]), -1.0, 1.0)
    angle = np.degrees(np.arccos(cosine))
    assert np.median(angle) < 3.0, np.percentile(angle, [50, 95])
    assert np.percentile(angle, 95) < 6.0, np.percentile(angle, [50, 95])


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_temporal_bone_mesh_meets_rays_where_the_bone_is(joints, seed):
    _, _, _, (h, hit), (h_true, hit_true) = joints[seed]
    assert np.mean(hit == hit_true) > 0.993, ((hit & ~hit_true).sum(), (~hit & hit_true).sum())
    both = hit & hit_true
    error = np.abs(h - h_true)[both]
    assert np.median(error) < 0.04, np.percentile(error, [50, 95])
    assert np.percentile(error, 95) < 0.2, np.percentile(error, [50, 95])


def test_exact_joint_maps_head_frame_normals_into_the_image(cbct_joint_phantom):
    """The exact normals at the truth's own surface samples (head frame, moved into the image by
    the pose) are the samples' normals turned by the pose's rotation."""
    side, phantom = cbct_joint_phantom(9)
    exact = phantom.exact[side]
    samples = exact.truth.points[::50]
    in_image = samples @ exact.rotation.T + exact.translation
    expected = exact.truth.normals[::50] @ exact.rotation.T
    moved = np.linalg.norm(exact.condyle_normals(in_image) - expected, axis=1)
    assert np.percentile(moved, 99) < 1e-3
    assert not np.allclose(exact.rotation, np.eye(3))   # the pose is not the identity
