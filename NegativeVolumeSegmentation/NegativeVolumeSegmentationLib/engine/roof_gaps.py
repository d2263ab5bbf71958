"""Gaps in the segmented fossa roof: condyle rays that miss the temporal bone where all around
them meet it.

The roof of the glenoid fossa is a plate 0.5-2 mm thick. Sampled at voxel centres 1.25-2 mm
apart across it (a clinical CT's slices), a label map holds it only where a centre falls inside
the plate: where the dome runs between two slices the labels have a hole, and so have the
surfaces built from them, by shape-based interpolation or not. A condyle ray through such a hole
meets no bone (h = 0 in modes confined and bounded) and the joint space above that part of the
condyle is lost; on the whole-head phantoms at 0.6 x 0.6 x 2 mm such islands of missing rays
(1-13 mm2 each, within 4 mm of the condyle's top) cost up to 7.5 % of the NV (docs/method.md,
"Gaps in the fossa roof").

The roof is continuous bone, so a set of missing rays enclosed on the condyle's surface by rays
that met the temporal bone is a gap of the segmentation, not a part of the condyle that faces
away from the fossa: its rays get the lengths of the rays around it (a harmonic interpolation
over the mesh, :func:`fill`), and count as hits. The misses that face away (the condylar neck,
the head's underside and the poles beyond the fossa) form one region around the condyle; it is
the largest set of connected missing rays and is never filled. The rays within ``RIM_MM`` of a
gap are bridged with it: next to a hole they enter it and meet its wall, past the roof. The air
rule runs afterwards, on the bridged rays too (air is never joint space). Mode paper keeps the
paper's rule (a miss inflates to the limit).
"""

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

# Rays next to a gap that enter the hole and meet its wall run on past the roof's lower surface.
# Their band on the condyle is about (wall height = roof thickness, <= 2 mm) x tan(the ray's
# slant to the wall, ~20 deg) x r / (r + joint space): <= 0.5 mm. They are bridged with the gap.
RIM_MM = 0.5
# A hole the slices cut into the roof leaves islands of 1-13 mm2 of missing rays on the condyle
# (phantoms at 0.6 x 0.6 x 2 mm). A larger enclosed set is not taken for one: on a condyle whose
# misses fall apart into several regions (the neck's lateral side open, its medial and posterior
# sides meeting bone) the smaller ones really face away, and bridging them would put joint space
# where there is no roof. A 40 mm2 island is a ~7 mm disc, a third of a condylar head's width.
MAX_GAP_MM2 = 40.0


def _components(subset, edges):
    """Connected-component label per vertex of the graph of the ``edges`` ((E, 2) index pairs)
    whose both ends lie in boolean ``subset`` (a vertex outside it is a component of its own)."""
    inner = edges[subset[edges[:, 0]] & subset[edges[:, 1]]]
    n = len(subset)
    graph = sparse.coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), (n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def enclosed_misses(hit, edges, areas=None, max_area_mm2=MAX_GAP_MM2):
    """Boolean per vertex: the missing rays (``~hit``) outside the largest connected set of
    missing rays, connectivity along ``edges`` ((E, 2) vertex index pairs: the mesh's edges), in
    sets of at most ``max_area_mm2`` (``areas``: mm2 per vertex; None: no limit). Every such set
    is bounded by rays that met the temporal bone."""
    miss = ~np.asarray(hit, bool)
    if miss.sum() < 2:
        return np.zeros(len(miss), bool)
    component = _components(miss, np.asarray(edges, int).reshape(-1, 2))
    sizes = np.bincount(component[miss], minlength=component.max() + 1)
    gaps = miss & (component != int(np.argmax(sizes)))
    if areas is not None:
        area = np.bincount(component[miss], np.asarray(areas, float)[miss], len(sizes))
        gaps &= area[component] <= max_area_mm2
    return gaps


def with_rim(gaps, points, hit, rim_mm=RIM_MM):
    """``gaps`` grown by the rays that met the temporal bone (``hit``) from vertices within
    ``rim_mm`` (mm) of a gap vertex (``points``: (N, 3) LPS mm): next to a hole they entered it
    and met its wall (:data:`RIM_MM`). Missing rays stay as they are."""
    gaps = np.asarray(gaps, bool)
    if not gaps.any() or rim_mm <= 0:
        return gaps
    d, _ = cKDTree(np.asarray(points, float)[gaps]).query(points, distance_upper_bound=rim_mm)
    return gaps | (np.isfinite(d) & np.asarray(hit, bool))


def fill(h, hit, gaps, edges):
    """(h, hit) with the rays of ``gaps`` (boolean per vertex, :func:`enclosed_misses`) given the
    harmonic interpolation (mm) of the lengths of the rays around them that met the temporal
    bone, over the graph of ``edges`` (each gap vertex the mean of its neighbours that met the
    bone or are in the gap), and counted as hits. A missing ray outside the gap (the part facing
    away, or a miss region too large to be a gap) is no boundary value: it has no length, and
    its 0 would pull a gap beside it towards 0 (the real head cropped 7 mm off one side read a
    minimum joint space of 0.09 mm so, against 1.32 mm). A set of gap vertices with no edge to a
    ray that met the bone has nothing to be interpolated from and stays as it was. ``h`` /
    ``hit`` are not modified."""
    h = np.asarray(h, float).copy()
    hit = np.asarray(hit, bool).copy()
    gaps = np.asarray(gaps, bool).copy()
    if not gaps.any():
        return h, hit
    edges = np.asarray(edges, int).reshape(-1, 2)
    n = len(h)
    known = hit & ~gaps
    edges = edges[(gaps | known)[edges].all(axis=1)]   # no edge to a ray without a length
    adjacency = sparse.coo_matrix((np.ones(2 * len(edges)),
                                   (np.r_[edges[:, 0], edges[:, 1]],
                                    np.r_[edges[:, 1], edges[:, 0]])), (n, n)).tocsr()
    adjacency.data[:] = 1.0  # an edge shared by two triangles counts once
    component = _components(gaps, edges)
    crossing = edges[gaps[edges[:, 0]] != gaps[edges[:, 1]]]
    anchored = np.zeros(component.max() + 1, bool)
    anchored[component[np.where(gaps[crossing[:, 0]], crossing[:, 0], crossing[:, 1])]] = True
    gaps &= anchored[component]  # a singular system otherwise
    if not gaps.any():
        return h, hit
    laplacian = (sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency).tocsr()
    inside, known = np.nonzero(gaps)[0], np.nonzero(known)[0]
    rhs = -(laplacian[inside][:, known] @ h[known])
    h[inside] = np.clip(spsolve(laplacian[inside][:, inside].tocsc(), rhs), 0.0, None)
    hit[inside] = True
    return h, hit
