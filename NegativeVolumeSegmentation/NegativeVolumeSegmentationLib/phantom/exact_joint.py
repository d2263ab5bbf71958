"""One phantom joint's exact geometry in the image's frame (LPS mm), to compare the engine with.

The head phantom's truth lives in its head frame, on implicit shapes (:mod:`.truth`): the
condyle (MC) and temporal bone (TB) are zero level sets, the rays are marched on them. This
wraps one joint's :class:`.truth.JointSpaceTruth` with the head's pose in the image (world
= R h + t, :class:`.grid.Grid`), so that what the engine computes from voxels (mesh vertices,
normals, ray lengths; LPS mm) can be checked against exact answers at the same points, or
swapped for them (``benchmarks/crop_error_sources.py``).
"""

import numpy as np

from .truth import onto_surface, ray_lengths, stopped_by_air


class ExactJoint(object):
    """Exact condyle normals and temporal-bone rays of one joint, in LPS mm.

    Args:
        joint_truth: the joint's :class:`.truth.JointSpaceTruth` (head frame).
        rotation, translation: the head pose (3 x 3, 3): world = rotation @ head + translation.
    """

    def __init__(self, joint_truth, rotation, translation):
        self.truth = joint_truth
        self.rotation = np.asarray(rotation, float)
        self.translation = np.asarray(translation, float)

    def _to_head(self, points):
        return (np.asarray(points, float).reshape(-1, 3) - self.translation) @ self.rotation

    def condyle_normals(self, points, iterations=5):
        """Outward unit normals (LPS) of the exact condyle surface at the surface points nearest
        to ``points`` (LPS mm, e.g. mesh vertices; each is moved onto the surface by Newton
        steps along the implicit function's gradient first, :func:`.truth.onto_surface`)."""
        _, normals = onto_surface(self.truth.mc_fn, self._to_head(points), iterations)
        return normals @ self.rotation.T

    def bone_ray_lengths(self, starts, directions, max_distance, air=True):
        """(h, hit) of the rays starts + t directions (LPS mm, unit directions), 0 < t <=
        ``max_distance``: h the first entry into the exact temporal bone (mm), hit whether there
        is one; with ``air`` a ray that meets the ear canal's air first counts as a miss (h = 0),
        as in the truth (:func:`.truth.stopped_by_air`)."""
        p = self._to_head(starts)
        d = np.asarray(directions, float).reshape(-1, 3) @ self.rotation
        h = ray_lengths(self.truth.tb_fn, p, d, max_distance)
        if air and self.truth.air_fn is not None:
            h[stopped_by_air(self.truth.air_fn, p, d, h, max_distance)] = 0.0
        return h, h > 0
