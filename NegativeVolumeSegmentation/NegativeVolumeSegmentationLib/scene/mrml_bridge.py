"""Conversion between 3D Slicer MRML nodes and the library's SimpleITK images and VTK meshes.

Frames: the library works in LPS millimetres (DICOM/ITK: +x patient's left, +y posterior,
+z superior); MRML works in RAS millimetres (+x patient's right, +y anterior, +z superior).
RAS = diag(-1, -1, 1) * LPS, for points and for direction cosines alike (the map is its own
inverse and a rotation, so it keeps handedness and outward normals). Voxel order is the same on
both sides: ``sitk.GetArrayFromImage`` and ``slicer.util.arrayFromVolume`` are both [k, j, i].

Needs ``slicer`` (Slicer's own Python, or the Qt-free ``slicer-core`` wheel); nothing here
uses ``slicer.mrmlScene`` or ``slicer.app``: every function takes the nodes (or the scene) it
works on, so it runs the same in Slicer, in a background process and under pytest.
"""

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from .. import labels
from ..errors import InputError
from ..report import thickness_colors

# Point/direction map between LPS and RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
THICKNESS_ARRAY = "JointSpaceThickness_mm"
THICKNESS_COLOR_NODE_NAME = "NegativeVolumeSegmentation joint space thickness"
# Thickness colour map (mm -> RGB), the one of every picture: report/thickness_colors.py
THICKNESS_COLORS = thickness_colors.transfer_points()


def _matrix_to_numpy(matrix):
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], float)


def _numpy_to_matrix(array):
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def ijk_to_ras_from_image(image):
    """4x4 IJK -> RAS (mm) matrix of a SimpleITK image's LPS geometry."""
    direction = np.array(image.GetDirection(), float).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = LPS_TO_RAS @ direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = LPS_TO_RAS @ np.array(image.GetOrigin(), float)
    return matrix


def check_linear_transform(node):
    """InputError (naming ``node``) when ``node`` is under a non-linear transform; checked before
    a run computes or writes anything, so that nothing is half-written."""
    if node is not None:
        _to_world(node)


def _to_world(node):
    """4x4 local -> world (RAS) matrix of a transformable node; non-linear is refused."""
    transform_node = node.GetParentTransformNode()
    if transform_node is None:
        return np.eye(4)
    if not transform_node.IsTransformToWorldLinear():
        raise InputError("%r is under a non-linear transform: harden it first" % node.GetName())
    to_world = vtk.vtkMatrix4x4()
    transform_node.GetMatrixTransformToWorld(to_world)
    return _matrix_to_numpy(to_world)


def _world_geometry(node):
    """(origin RAS, spacing, direction RAS 3x3) of a volume node in world coordinates, mm.

    A linear parent transform is composed in; a non-linear one is refused (a SimpleITK image
    cannot carry it: harden it in Slicer first).
    """
    origin = np.array(node.GetOrigin(), float)
    spacing = np.array(node.GetSpacing(), float)
    direction = np.zeros((3, 3))
    node.GetIJKToRASDirections(direction)
    extent = node.GetImageData().GetExtent()
    start = np.array(extent[0::2], float)
    if np.any(start):
        origin = origin + direction @ (spacing * start)
    if node.GetParentTransformNode() is not None:
        world = _to_world(node)
        axes = world[:3, :3] @ direction @ np.diag(spacing)
        origin = world[:3, :3] @ origin + world[:3, 3]
        spacing = np.linalg.norm(axes, axis=0)
        direction = axes / spacing
    return origin, spacing, direction


def image_from_volume_node(node):
    """SimpleITK image (LPS geometry, same voxel type) of a scalar or label map volume node."""
    if node is None or node.GetImageData() is None:
        raise InputError("volume %r has no image data"
                         % (node.GetName() if node is not None else None))
    image_data = node.GetImageData()
    if image_data.GetNumberOfScalarComponents() != 1:
        raise InputError("volume %r has %d components per voxel; a scalar volume is needed"
                         % (node.GetName(), image_data.GetNumberOfScalarComponents()))
    dims = image_data.GetDimensions()
    array = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())
    array = np.array(array).reshape(dims[2], dims[1], dims[0])
    origin, spacing, direction = _world_geometry(node)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(v) for v in spacing])
    image.SetOrigin([float(v) for v in LPS_TO_RAS @ origin])
    image.SetDirection([float(v) for v in (LPS_TO_RAS @ direction).ravel()])
    return image


def volume_node_from_image(image, scene, name="Volume", node=None,
                           class_name="vtkMRMLScalarVolumeNode"):
    """Put a 3D scalar SimpleITK image (LPS) into a volume node (RAS); returns the node.

    A new node of ``class_name`` is added to ``scene`` unless ``node`` is given. The node's parent
    transform is removed: the image carries its own physical geometry.
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("a 3D scalar image is needed (got %dD with %d components)"
                         % (image.GetDimension(), image.GetNumberOfComponentsPerPixel()))
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
    node.SetAndObserveTransformNodeID(None)
    slicer.util.updateVolumeFromArray(node, sitk.GetArrayFromImage(image))
    direction = np.array(image.GetDirection(), float).reshape(3, 3)
    directions = np.eye(4)
    directions[:3, :3] = LPS_TO_RAS @ direction
    node.SetIJKToRASDirectionMatrix(_numpy_to_matrix(directions))
    node.SetSpacing(*[float(v) for v in image.GetSpacing()])
    node.SetOrigin(*[float(v) for v in LPS_TO_RAS @ np.array(image.GetOrigin(), float)])
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def _oriented_image_from_labels(array, ijk_to_ras):
    """vtkOrientedImageData (unsigned char) of a [k, j, i] label array and its IJK->RAS."""
    oriented = slicer.vtkOrientedImageData()
    oriented.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    oriented.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars())[:] = array.ravel()
    oriented.SetImageToWorldMatrix(_numpy_to_matrix(ijk_to_ras))
    return oriented


def find_segment_id(segmentation_node, name):
    """ID of the segment called ``name`` (case, spacing and underscores ignored, as in files:
    :func:`..labels.matching_name`), or None."""
    segmentation = segmentation_node.GetSegmentation()
    wanted = labels.matching_name(name)
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        if labels.matching_name(segmentation.GetSegment(segment_id).GetName()) == wanted:
            return segment_id
    return None


def segmentation_from_labels(label_image, segmentation_node, values=None):
    """Write label values of an LPS label image as named, coloured segments (labels.SEGMENTS).

    ``values``: which label values to write (default: every value of labels.SEGMENTS present).
    A segment with the same name is replaced. All written segments share one binary labelmap
    layer on the label image's grid, which also becomes the segmentation's reference geometry.
    The image's LPS geometry is world space: under a (linear) parent transform the segments are
    stored in the node's local frame so that they show where the image says.
    Returns {label value: segment ID} for the segments written (absent values are skipped).
    """
    array = sitk.GetArrayFromImage(label_image)
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError("a label map needs integer voxels (got %s)" % array.dtype)
    present = set(int(v) for v in np.unique(array))
    if values is None:
        values = [s.value for s in labels.SEGMENTS]
    values = [int(v) for v in values if int(v) in present and int(v) in labels.BY_VALUE]
    kept = np.where(np.isin(array, values), array, 0).astype(np.uint8)
    # The image is in world coordinates; segments live in the node's local frame.
    ijk_to_local = np.linalg.inv(_to_world(segmentation_node)) @ ijk_to_ras_from_image(label_image)
    oriented = _oriented_image_from_labels(kept, ijk_to_local)
    segmentation = segmentation_node.GetSegmentation()
    converter = slicer.vtkSegmentationConverter
    segmentation.SetConversionParameter(converter.GetReferenceImageGeometryParameterName(),
                                        converter.SerializeImageGeometry(oriented))
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()
    written = {}
    for value in values:
        info = labels.BY_VALUE[value]
        old_id = find_segment_id(segmentation_node, info.name)
        if old_id is not None:
            segmentation.RemoveSegment(old_id)
        segment = slicer.vtkSegment()
        segment.SetName(info.name)
        segment.SetColor(*info.color)
        segment.SetLabelValue(value)
        segment.AddRepresentation(converter.GetBinaryLabelmapRepresentationName(), oriented)
        segment_id = segmentation.GenerateUniqueSegmentID(info.name.replace(" ", "_"))
        segmentation.AddSegment(segment, segment_id)
        written[value] = segment_id
    return written


def has_reference_geometry(segmentation_node):
    """Whether the segmentation carries its own reference image geometry (the grid its binary
    labelmaps were drawn or written on)."""
    segmentation = segmentation_node.GetSegmentation()
    name = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    return bool(segmentation.GetConversionParameter(name))


def labels_from_segmentation(segmentation_node, reference_volume_node=None, values=None):
    """LPS uint8 label image of the named segments, on the reference volume's grid.

    Segments are found by their names in labels.SEGMENTS (case ignored); ``values`` limits which
    (default all six). Without a reference volume the segmentation's reference geometry is used.
    The image carries world geometry (parent transforms of the reference volume composed in).
    Returns (image, {label value: segment ID found}); later values win where segments overlap.
    """
    if values is None:
        values = [s.value for s in labels.SEGMENTS]
    _to_world(segmentation_node)   # refused here, by its name (not the export's temporary node)
    found = {}
    ids = vtk.vtkStringArray()
    for value in values:
        segment_id = find_segment_id(segmentation_node, labels.BY_VALUE[value].name)
        if segment_id is not None:
            found[value] = segment_id
            ids.InsertNextValue(segment_id)
    if not found:
        if reference_volume_node is None:
            raise InputError("segmentation %r has none of the segments %s"
                             % (segmentation_node.GetName(),
                                ", ".join(repr(labels.BY_VALUE[v].name) for v in values)))
        reference = image_from_volume_node(reference_volume_node)
        image = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
        image.CopyInformation(reference)
        return image, found
    scene = segmentation_node.GetScene()
    before = _node_ids(scene)
    temporary = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__nvseg_export__")
    try:
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, temporary, reference_volume_node,
            slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY)
        if not ok or temporary.GetImageData() is None:
            raise InputError("segmentation %r could not be exported on the reference grid"
                             % segmentation_node.GetName())
        exported = image_from_volume_node(temporary)
    finally:
        # the export's helpers (display node, colour table) go with it: the scene is unchanged
        for node_id in reversed([i for i in _node_ids(scene) if i not in before]):
            node = scene.GetNodeByID(node_id)
            if node is not None:
                scene.RemoveNode(node)
    array = sitk.GetArrayFromImage(exported)
    out = np.zeros(array.shape, np.uint8)
    for order, value in enumerate(found, start=1):  # the export numbers segments 1..n in order
        out[array == order] = value
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(exported)
    return image, found


def _node_ids(scene):
    """IDs of the scene's nodes, in scene order."""
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def create_closed_surfaces(segmentation_node, smoothing=None):
    """Create (or update) the closed-surface representation of every segment (3D display).

    ``smoothing``: Slicer's surface smoothing factor (0 none - 1 strong; Slicer's default 0.5);
    given, it is set and surfaces derived from a binary labelmap source are rebuilt with it. It
    changes only the 3D display: volumes are measured on voxels.
    """
    segmentation = segmentation_node.GetSegmentation()
    if smoothing is not None:
        smoothing = float(smoothing)
        if not 0.0 <= smoothing <= 1.0:
            raise InputError("surface smoothing must be between 0 and 1, got %r" % smoothing)
        rule = slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule
        name = rule.GetSmoothingFactorParameterName()
        segmentation.SetConversionParameter(name, "%g" % smoothing)
        converter = slicer.vtkSegmentationConverter
        if (segmentation.GetSourceRepresentationName()
                == converter.GetBinaryLabelmapRepresentationName()):
            segmentation_node.RemoveClosedSurfaceRepresentation()
    if not segmentation_node.CreateClosedSurfaceRepresentation():
        raise InputError("segmentation %r: closed surfaces could not be created"
                         % segmentation_node.GetName())


def lps_to_ras(point):
    """RAS mm of an LPS mm point (and back: the map is its own inverse)."""
    return [float(v) for v in LPS_TO_RAS @ np.asarray(point, float)]


def _flip_xy(polydata):
    """Copy of ``polydata`` with x and y negated (LPS <-> RAS); normals and vectors follow."""
    transform = vtk.vtkTransform()
    transform.Scale(-1.0, -1.0, 1.0)
    flip = vtk.vtkTransformPolyDataFilter()
    flip.SetTransform(transform)
    flip.SetInputData(polydata)
    flip.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(flip.GetOutput())
    return out


def thickness_color_node(scene):
    """The scene's joint-space thickness colour node (procedural, mm), created once."""
    node = scene.GetFirstNodeByName(THICKNESS_COLOR_NODE_NAME)
    if node is not None and node.IsA("vtkMRMLProceduralColorNode"):
        return node
    node = scene.AddNewNodeByClass("vtkMRMLProceduralColorNode", THICKNESS_COLOR_NODE_NAME)
    function = vtk.vtkColorTransferFunction()
    for value, rgb in THICKNESS_COLORS:
        function.AddRGBPoint(value, *rgb)
    node.SetAndObserveColorTransferFunction(function)
    return node


def add_color_legend(model_node, title="Joint space (mm)"):
    """Show a colour legend (Slicer 5.x color legend display node) for a scalar-coloured model.

    Returns the vtkMRMLColorLegendDisplayNode (the existing one on a re-run), or None where this
    Slicer has no colour legends (before 5.0): the model is still coloured.
    """
    color_logic = getattr(slicer, "vtkSlicerColorLogic", None)
    if color_logic is None or not hasattr(color_logic, "AddDefaultColorLegendDisplayNode"):
        return None
    legend = color_logic.GetColorLegendDisplayNode(model_node)
    if legend is None:
        legend = color_logic.AddDefaultColorLegendDisplayNode(model_node)
    if legend is None:
        return None
    legend.SetTitleText(title)
    legend.SetLabelFormat("%.1f")
    legend.SetVisibility(True)
    return legend


def model_node_from_polydata(polydata_lps, scene, name, scalar_name=THICKNESS_ARRAY, node=None):
    """Model node (RAS) of an LPS mesh, coloured by its point array ``scalar_name`` when present.

    Colours: :data:`THICKNESS_COLORS` (mm), grey where the value is 0 (no temporal bone met).
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLModelNode", name)
    node.SetAndObservePolyData(_flip_xy(polydata_lps))
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if scalar_name and node.GetPolyData().GetPointData().GetArray(scalar_name) is not None:
        display.SetActiveScalar(scalar_name, vtk.vtkAssignAttribute.POINT_DATA)
        display.SetAndObserveColorNodeID(thickness_color_node(scene).GetID())
        display.SetScalarRangeFlag(slicer.vtkMRMLDisplayNode.UseColorNodeScalarRange)
        display.SetScalarVisibility(True)
    return node


# Rows of the results table: (report key, row label, unit, asymmetry key or None).


# the table is built in .results_table; kept here for the self-test checks that call it so
from .results_table import table_node_from_results  # noqa: E402,F401
