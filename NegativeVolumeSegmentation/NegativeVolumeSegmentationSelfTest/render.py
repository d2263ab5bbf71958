"""Draw an MRML scene the way 3D Slicer's viewers show it, offscreen, to RGB arrays and PNG files.

Built on the displayable managers of Slicer's MRML libraries (the Qt-free ``slicer-core`` wheel,
or Slicer's own Python): a slice view is a ``vtkMRMLSliceLogic`` + the 2D displayable managers
(segmentation fill and outline over the CT, model intersections) on a renderer, a 3D view a
``vtkMRMLViewLogic`` + the 3D managers (models with their scalar colouring, segment closed
surfaces, colour legends). What is drawn is what Slicer draws for the same nodes and display
settings; only the window around it (Qt, annotations) is missing.

Frames: callers give points in LPS mm (the library's frame, +x = patient's left); MRML and the
views work in RAS (x and y negated). Slice views use Slicer's default presets with the patient's
right on the screen's left (radiological convention). Pixel arrays are [row, column, RGB] uint8
with row 0 at the top of the picture.

Offscreen OpenGL (:mod:`.offscreen`): VTK picks X, then EGL, then OSMesa; without a display set
``VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow`` (Debian: libosmesa6) or let it use EGL.
:func:`offscreen_problem` says why rendering cannot work here (None when it can). Inside the
Slicer application use its own views (e.g. the Screen Capture module); this renderer is for
Slicer's libraries without the application (tests, documentation, batch pictures).
"""

import numpy as np
import slicer
import vtk

from NegativeVolumeSegmentationLib.scene import mrml_bridge
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationSelfTest.offscreen import capture, offscreen_problem, write_png  # noqa: F401 (re-exported)

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])  # x and y negated, for points and directions
# Slicer's "CT-bone" window / level preset (HU).
BONE_WINDOW_LEVEL = (1000.0, 400.0)
ORIENTATIONS = ("Axial", "Coronal", "Sagittal")
# Slice view names and colours of Slicer's default layout.
SLICE_VIEW_NAMES = {"Axial": "Red", "Coronal": "Green", "Sagittal": "Yellow"}
SLICE_MANAGERS = ("vtkMRMLSegmentationsDisplayableManager2D", "vtkMRMLModelSliceDisplayableManager",
                  "vtkMRMLColorLegendDisplayableManager")
THREED_MANAGERS = ("vtkMRMLCameraDisplayableManager", "vtkMRMLViewDisplayableManager",
                   "vtkMRMLModelDisplayableManager", "vtkMRMLSegmentationsDisplayableManager3D",
                   "vtkMRMLColorLegendDisplayableManager")
# Node classes a view needs; close() removes the ones the renderer added.
VIEW_MACHINERY_CLASSES = ("vtkMRMLAbstractViewNode", "vtkMRMLCameraNode",
                          "vtkMRMLSliceCompositeNode", "vtkMRMLSliceDisplayNode",
                          "vtkMRMLSelectionNode", "vtkMRMLInteractionNode", "vtkMRMLCrosshairNode",
                          "vtkMRMLColorLegendDisplayNode")


def _node_ids(scene):
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


class SliceImage(object):
    """A captured slice view: ``pixels`` [row, column, RGB] and the view's pixel <-> LPS map."""

    def __init__(self, pixels, xy_to_ras):
        self.pixels = pixels
        self.xy_to_ras = np.array(xy_to_ras, float)

    def lps_of_pixel(self, row, column):
        """LPS mm of a pixel's centre (row 0 at the top)."""
        x, y = float(column), float(self.pixels.shape[0] - 1 - row)
        ras = self.xy_to_ras @ np.array([x, y, 0.0, 1.0])
        return ras[:3] * LPS_TO_RAS

    def pixel_of_lps(self, point_lps):
        """(row, column, distance from the slice plane in mm) of an LPS point."""
        xy = np.linalg.inv(self.xy_to_ras) @ np.append(np.asarray(point_lps, float) * LPS_TO_RAS,
                                                       1.0)
        row = self.pixels.shape[0] - 1 - int(round(xy[1]))
        normal = self.xy_to_ras[:3, 2]
        return row, int(round(xy[0])), float(xy[2] * np.linalg.norm(normal))


class _View(object):
    """A render window + renderer + displayable-manager group of one view (offscreen)."""

    def __init__(self, size):
        self.renderer = vtk.vtkRenderer()
        self.window = vtk.vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.SetMultiSamples(0)
        self.window.SetSize(*size)
        self.window.AddRenderer(self.renderer)
        # Displayable managers observe the interactor (widgets, picking): give them one.
        self.interactor = vtk.vtkRenderWindowInteractor()
        self.interactor.SetRenderWindow(self.window)
        self.interactor.Initialize()
        self.group = slicer.vtkMRMLDisplayableManagerGroup()

    def start_managers(self, factory_class, app_logic, managers, view_node):
        factory = factory_class.GetInstance()
        factory.SetMRMLApplicationLogic(app_logic)
        for name in managers:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        self.group.Initialize(factory, self.renderer)
        self.group.SetMRMLDisplayableNode(view_node)

    def capture(self, texts=()):
        """Render and read the frame; ``texts``: (text, x, y) with x, y in 0-1 of the view
        (0, 0 bottom left), drawn for this frame only, like Slicer's corner annotations."""
        actors = []
        for text, x, y in texts or ():
            actor = vtk.vtkTextActor()
            actor.SetInput(str(text))
            prop = actor.GetTextProperty()
            prop.SetFontSize(max(10, int(round(self.window.GetSize()[1] / 28.0))))
            prop.SetColor(1.0, 1.0, 1.0)
            prop.SetShadow(1)
            prop.SetJustification(2 if x > 0.7 else (1 if x > 0.3 else 0))
            prop.SetVerticalJustification(2 if y > 0.7 else (1 if y > 0.3 else 0))
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.GetPositionCoordinate().SetValue(float(x), float(y))
            self.renderer.AddViewProp(actor)
            actors.append(actor)
        try:
            self.group.RequestRender()
            self.window.Render()
            return capture(self.window)
        finally:
            for actor in actors:
                self.renderer.RemoveViewProp(actor)

    def close(self):
        self.group.SetMRMLDisplayableNode(None)
        self.window.Finalize()


class SceneRenderer(object):
    """Offscreen slice and 3D views of an MRML scene (the one the module's Logic filled).

    The renderer adds Slicer's view nodes (slice nodes "Red", "Green", "Yellow", view node "1")
    and an application logic when the scene has none; :meth:`close` (or leaving a ``with``
    block) removes the nodes it added. Display settings it changes for one picture are put
    back afterwards, except the CT window/level of :meth:`slice_view`.
    """

    def __init__(self, scene, size=(400, 400)):
        if scene is None:
            raise InputError("no MRML scene to render")
        self.scene = scene
        self.size = (int(size[0]), int(size[1]))
        self._before = set(_node_ids(scene))
        # Slicer's application logic (it adds the selection and interaction nodes).
        self.app_logic = slicer.vtkSlicerApplicationLogic()
        self.app_logic.SetMRMLScene(scene)
        self.app_logic.SetSliceLogics(vtk.vtkCollection())
        self.app_logic.SetViewLogics(vtk.vtkCollection())
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
        self._slices = {}
        self._threed = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Free the views and remove the view machinery nodes this renderer added.

        Removed: nodes added since the renderer was made that are views, cameras, slice
        nodes, slice models, selection / interaction / crosshair or colour legend nodes; data
        nodes (volumes, segmentations, models, tables) added meanwhile are kept.
        """
        machinery = []
        for view, logic in self._slices.values():
            machinery += [logic.GetSliceModelNode(), logic.GetSliceModelDisplayNode(),
                          logic.GetSliceModelTransformNode()]
        for view, logic in list(self._slices.values()) + ([self._threed] if self._threed else []):
            view.close()
            logic.SetMRMLScene(None)
        self._slices, self._threed = {}, None
        machinery_ids = set(node.GetID() for node in machinery if node is not None)
        for node_id in _node_ids(self.scene):
            node = self.scene.GetNodeByID(node_id)
            if node is None or node_id in self._before:
                continue
            if node_id in machinery_ids or any(node.IsA(c) for c in VIEW_MACHINERY_CLASSES):
                self.scene.RemoveNode(node)
        self.app_logic.SetMRMLScene(None)

    # ------------------------------------------------------------------ slice views
    def _slice(self, orientation, volume_node):
        """The (view, slice logic) of one orientation, its background set to ``volume_node``.

        The background volume goes in before the displayable managers see the slice node, so
        that the CT is the bottom layer and segment fills are blended over it.
        """
        if orientation in self._slices:
            view, logic = self._slices[orientation]
            logic.GetSliceCompositeNode().SetBackgroundVolumeID(volume_node.GetID())
            return view, logic
        view = _View(self.size)
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLApplicationLogic(self.app_logic)
        logic.SetMRMLScene(self.scene)
        self.app_logic.GetSliceLogics().AddItem(logic)
        slice_node = logic.AddSliceNode(SLICE_VIEW_NAMES[orientation])
        slice_node.SetOrientation(orientation)
        logic.GetSliceCompositeNode().SetBackgroundVolumeID(volume_node.GetID())
        mapper = vtk.vtkImageMapper()  # the slice logic's RGBA output is already windowed
        mapper.SetColorWindow(255.0)
        mapper.SetColorLevel(127.5)
        mapper.SetInputConnection(logic.GetImageDataConnection())
        actor = vtk.vtkActor2D()
        actor.SetMapper(mapper)
        actor.GetProperty().SetDisplayLocationToBackground()
        view.renderer.AddViewProp(actor)
        view.start_managers(slicer.vtkMRMLSliceViewDisplayableManagerFactory, self.app_logic,
                            SLICE_MANAGERS, slice_node)
        self._slices[orientation] = (view, logic)
        return view, logic

    def slice_view(self, orientation, center_lps, volume_node, field_of_view_mm=60.0,
                   window_level=BONE_WINDOW_LEVEL, texts=()):
        """Capture one slice view through ``center_lps`` (mm), centred on it.

        Args:
            orientation: "Axial", "Coronal" or "Sagittal" (Slicer's presets).
            center_lps: the point (LPS mm) the slice passes through and is centred on.
            volume_node: the CT shown as background layer; its display node gets
                ``window_level`` (HU; Slicer's CT-bone preset by default; None keeps its own).
            field_of_view_mm: width of the view in mm (height follows the aspect ratio).
            texts: annotations (text, x, y), x and y in 0-1 of the view, for this picture.
        Segmentations and models show as their display nodes say (Slicer's defaults: segment
        fill at 50 % opacity with a full-opacity outline).
        Returns a :class:`SliceImage`.
        """
        if orientation not in ORIENTATIONS:
            raise InputError("unknown slice orientation %r; expected one of %s"
                             % (orientation, ", ".join(ORIENTATIONS)))
        if volume_node is None or volume_node.GetImageData() is None:
            raise InputError("a CT volume with image data is needed for a slice view")
        if volume_node.GetDisplayNode() is None:
            volume_node.CreateDefaultDisplayNodes()
        if window_level is not None:
            display = volume_node.GetDisplayNode()
            display.AutoWindowLevelOff()
            display.SetWindowLevel(float(window_level[0]), float(window_level[1]))
        view, logic = self._slice(orientation, volume_node)
        slice_node = logic.GetSliceNode()
        width, height = self.size
        logic.ResizeSliceNode(width, height)
        slice_node.SetFieldOfView(float(field_of_view_mm),
                                  float(field_of_view_mm) * height / width,
                                  slice_node.GetFieldOfView()[2])
        ras = np.asarray(center_lps, float) * LPS_TO_RAS
        slice_node.JumpSliceByCentering(*[float(v) for v in ras])
        slice_node.UpdateMatrices()
        pixels = view.capture(texts)
        xy_to_ras = np.array([[slice_node.GetXYToRAS().GetElement(r, c) for c in range(4)]
                              for r in range(4)])
        return SliceImage(pixels, xy_to_ras)

    # ------------------------------------------------------------------ 3D view
    def _threed_view(self):
        if self._threed is not None:
            return self._threed
        view = _View(self.size)
        view.renderer.SetUseDepthPeeling(1)  # as Slicer's 3D view: translucent segments sort
        view.renderer.SetMaximumNumberOfPeels(8)
        logic = slicer.vtkMRMLViewLogic()
        logic.SetMRMLApplicationLogic(self.app_logic)
        logic.SetMRMLScene(self.scene)
        self.app_logic.GetViewLogics().AddItem(logic)
        view_node = logic.AddViewNode("1")
        view_node.SetBoxVisible(0)
        view_node.SetAxisLabelsVisible(0)
        view.start_managers(slicer.vtkMRMLThreeDViewDisplayableManagerFactory, self.app_logic,
                            THREED_MANAGERS, view_node)
        self._threed = (view, logic)
        return self._threed

    def threed_view(self, center_lps, from_direction_lps=(1.0, -1.0, 0.6), distance_mm=120.0,
                    view_up_lps=(0.0, 0.0, 1.0), segment_opacity=None, legend_model=None,
                    legend_title="Joint space (mm)", hidden_nodes=(), texts=()):
        """Capture the 3D view looking at ``center_lps`` (mm).

        Args:
            center_lps: focal point (LPS mm).
            from_direction_lps: direction from the focal point toward the camera (LPS; the
                default looks from the patient's left, anterior and above).
            distance_mm: camera distance (mm); the view angle is Slicer's 30 degrees.
            view_up_lps: the direction shown upward (LPS).
            segment_opacity: {segment name: 3D opacity} applied to every segmentation for this
                picture only (0 hides a segment; e.g. hide a condyle segment that a thickness
                model covers, or make the temporal bone translucent).
            legend_model: a model node whose scalar colours get a colour legend (Slicer's
                "Show color legend"); added for this picture only when the model has none.
            hidden_nodes: displayable nodes (e.g. the other joint's model) hidden for this picture.
            texts: annotations (text, x, y), x and y in 0-1 of the view, for this picture.
        Returns [row, column, RGB] uint8 pixels.
        """
        view, logic = self._threed_view()
        direction = np.asarray(from_direction_lps, float)
        if not np.isfinite(direction).all() or np.linalg.norm(direction) == 0:
            raise InputError("camera direction must be a non-zero vector, got %r"
                             % (from_direction_lps,))
        focal = np.asarray(center_lps, float) * LPS_TO_RAS
        position = focal + float(distance_mm) * direction / np.linalg.norm(direction) * LPS_TO_RAS
        camera = view.renderer.GetActiveCamera()  # the camera node's camera (camera manager)
        camera.SetFocalPoint(*focal)
        camera.SetPosition(*position)
        camera.SetViewUp(*(np.asarray(view_up_lps, float) * LPS_TO_RAS))
        camera.SetViewAngle(30.0)
        camera.OrthogonalizeViewUp()
        restore = self._apply_segment_opacity(segment_opacity or {})
        legend = self._add_legend(legend_model, legend_title)
        shown = [node.GetDisplayNode() for node in hidden_nodes
                 if node is not None and node.GetDisplayNode() is not None
                 and node.GetDisplayNode().GetVisibility()]
        for display in shown:
            display.SetVisibility(False)
        try:
            view.renderer.ResetCameraClippingRange()
            pixels = view.capture(texts)
        finally:
            for display in shown:
                display.SetVisibility(True)
            if legend is not None:
                self.scene.RemoveNode(legend)
            for display, segment_id, opacity, visible in restore:
                display.SetSegmentOpacity3D(segment_id, opacity)
                display.SetSegmentVisibility3D(segment_id, visible)
        return pixels

    def _apply_segment_opacity(self, opacity_by_name):
        """Set the 3D opacity of named segments in every segmentation; returns what to restore."""
        restore = []
        nodes = self.scene.GetNodesByClass("vtkMRMLSegmentationNode")
        for index in range(nodes.GetNumberOfItems()):
            node = nodes.GetItemAsObject(index)
            display = node.GetDisplayNode()
            for name, opacity in opacity_by_name.items():
                segment_id = mrml_bridge.find_segment_id(node, name)
                if display is None or segment_id is None:
                    continue
                restore.append((display, segment_id, display.GetSegmentOpacity3D(segment_id),
                                display.GetSegmentVisibility3D(segment_id)))
                display.SetSegmentOpacity3D(segment_id, float(opacity))
                display.SetSegmentVisibility3D(segment_id, float(opacity) > 0)
        return restore

    def _add_legend(self, model_node, title):
        """A colour legend display node for ``model_node`` unless it has one; None otherwise."""
        if model_node is None:
            return None
        if slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(model_node) is not None:
            return None
        legend = slicer.vtkSlicerColorLogic.AddDefaultColorLegendDisplayNode(model_node)
        if legend is not None:
            legend.SetTitleText(title)
            legend.SetVisibility2D(False)
            legend.SetNumberOfLabels(6)
            legend.SetLabelFormat("%.0f")
            legend.SetSize(0.12, 0.4)
            legend.GetTitleTextProperty().SetFontSize(14)
            legend.GetLabelTextProperty().SetFontSize(12)
        return legend
