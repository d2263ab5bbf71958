"""Bone surfaces: a binary mask on any image grid -> closed, smooth, outward-oriented mesh (LPS mm).

As 3D Slicer converts a binary labelmap to a closed surface: discrete flying edges on the mask
(surface at the 0.5 level between voxel centres), windowed-sinc smoothing, point and cell
normals pointing out of the solid. The mesh is built in index space scaled by the spacing and then
mapped to physical LPS mm with the image's direction matrix and origin, so any direction or
(anisotropic) spacing is handled. Works on whatever image it is given: callers crop a region of
interest (ROI) around a joint first.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkFiltersCore import (vtkPolyDataNormals, vtkTriangleFilter,
                                       vtkWindowedSincPolyDataFilter)
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

SMOOTHING_FACTOR = 0.5  # Slicer's default "surface smoothing" of a segmentation


def clean_mask(mask):
    """Largest 26-connected component of a boolean (z, y, x) array, its inner cavities filled.

    Small islands (other components) and holes are what segmentations typically carry; the
    surface of the bone is the outer boundary of its largest piece. A cavity is background not
    6-connected to the array's border.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask
    lab, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if count > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        mask = lab == int(np.argmax(sizes))
    outside = np.pad(~mask, 1, constant_values=True)
    back, _ = ndimage.label(outside)
    return (back != back[0, 0, 0])[1:-1, 1:-1, 1:-1]


def _bounding_box(mask):
    """(lo, hi) numpy-order index bounds of the True voxels, hi exclusive; None when empty."""
    lo, hi = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.nonzero(np.any(mask, axis=other))[0]
        if len(hit) == 0:
            return None
        lo.append(int(hit[0]))
        hi.append(int(hit[-1]) + 1)
    return np.array(lo), np.array(hi)


def _index_to_physical(image):
    """4x4 matrix mapping (i, j, k) * spacing (mm) to LPS mm for a SimpleITK image."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    mat = np.eye(4)
    mat[:3, :3] = direction
    mat[:3, 3] = np.asarray(image.GetOrigin(), float)
    return mat


def signed_volume(poly):
    """Signed volume (mm^3) enclosed by a closed triangle mesh; > 0 when faces point outward."""
    pts = numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    tri = triangles(poly)
    if len(tri) == 0:
        return 0.0
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    return float(np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6.0)


def triangles(poly):
    """(M, 3) vertex indices of a triangle-only vtkPolyData."""
    polys = poly.GetPolys()
    if polys is None or polys.GetNumberOfCells() == 0:
        return np.zeros((0, 3), np.int64)
    conn = numpy_support.vtk_to_numpy(polys.GetConnectivityArray())
    return conn.reshape(-1, 3).astype(np.int64)


def points(poly):
    """(N, 3) float array of a mesh's points (LPS mm)."""
    return numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float)


def point_normals(poly):
    """(N, 3) outward unit point normals of a mesh made by :func:`mask_surface`."""
    return numpy_support.vtk_to_numpy(poly.GetPointData().GetNormals()).astype(float)


def cell_normals(poly):
    """(M, 3) outward unit face normals of a mesh made by :func:`mask_surface`."""
    return numpy_support.vtk_to_numpy(poly.GetCellData().GetNormals()).astype(float)


def _flying_edges(img, smoothing):
    """Discrete flying edges + windowed-sinc smoothing (Slicer's classic conversion)."""
    surf = vtkDiscreteFlyingEdges3D()
    surf.SetInputData(img)
    surf.SetValue(0, 1)
    surf.ComputeNormalsOff()
    surf.ComputeGradientsOff()
    surf.ComputeScalarsOff()
    surf.Update()
    poly = surf.GetOutput()
    if smoothing <= 0 or poly.GetNumberOfPoints() == 0:
        return poly
    sinc = vtkWindowedSincPolyDataFilter()
    sinc.SetInputData(poly)
    sinc.SetNumberOfIterations(int(round(20 + 40 * smoothing)))
    sinc.SetPassBand(10.0 ** (-4.0 * smoothing))
    sinc.BoundarySmoothingOff()
    sinc.FeatureEdgeSmoothingOff()
    sinc.NonManifoldSmoothingOn()
    sinc.NormalizeCoordinatesOn()
    sinc.Update()
    return sinc.GetOutput()


def mask_surface(mask_image, smoothing=SMOOTHING_FACTOR, clean=True):
    """Closed outward-oriented triangle mesh (LPS mm) of a binary SimpleITK mask (non-zero = in).

    Args:
        mask_image: SimpleITK image, any origin / spacing / direction.
        smoothing: Slicer-style smoothing factor 0-1 (windowed sinc pass band 10^(-4 s)).
        clean: keep the largest component and fill its cavities first (:func:`clean_mask`).

    Returns:
        vtkPolyData with point normals and cell normals (outward), or None for an empty mask.
    """
    arr = sitk.GetArrayViewFromImage(mask_image) != 0
    box = _bounding_box(arr)
    if box is None:
        return None
    lo, hi = box
    arr = arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]  # work on the mask's own box only
    if clean:
        arr = clean_mask(arr)
    # Pad so that a mask touching the border still gives a closed surface.
    arr = np.pad(arr, 1).astype(np.uint8)
    spacing = np.asarray(mask_image.GetSpacing(), float)
    img = vtkImageData()
    img.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    img.SetSpacing(*spacing)
    # Padded array index 0 is image index lo - 1 (x, y, z order for VTK).
    img.SetOrigin(*((lo[::-1] - 1) * spacing))
    img.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True))

    poly = _flying_edges(img, smoothing)
    if poly.GetNumberOfPoints() == 0:
        return None

    # Index space (scaled by spacing) -> LPS mm.
    mat = _index_to_physical(mask_image)
    pts = numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    pts = pts @ mat[:3, :3].T + mat[:3, 3]
    out = vtkPolyData()
    vpts = vtkPoints()
    vpts.SetData(numpy_support.numpy_to_vtk(pts, deep=True))
    out.SetPoints(vpts)
    out.SetPolys(poly.GetPolys())
    tri = vtkTriangleFilter()
    tri.SetInputData(out)
    tri.Update()
    out = tri.GetOutput()

    # A left-handed direction matrix (or the contouring's own winding) may leave faces inward:
    # orient consistently, then flip everything when the enclosed signed volume is negative.
    result = _normals(out, flip=False)
    if signed_volume(result) < 0:
        result = _normals(out, flip=True)
    return result


def _normals(poly, flip):
    """Consistently ordered triangles with point and cell normals (flipped when ``flip``)."""
    normals = vtkPolyDataNormals()
    normals.SetInputData(poly)
    normals.ComputePointNormalsOn()
    normals.ComputeCellNormalsOn()
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.AutoOrientNormalsOff()
    normals.SetFlipNormals(bool(flip))
    normals.Update()
    return normals.GetOutput()
