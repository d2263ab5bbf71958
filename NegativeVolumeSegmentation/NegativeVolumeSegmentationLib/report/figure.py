"""report.png: one figure a clinician reads at a glance (matplotlib, Agg backend).

One row per joint (patient's right first, as it appears on the viewer's left in radiological
convention): a coronal and a sagittal CT slice through the condyle centre (bone window) with the
condyle (MC), temporal bone (TB) and negative volume (NV) outlined in their segment colours (NV
also lightly filled), and the joint-space thickness (mm) on the condyle seen from above
(anterior up, the patient's right on the right, as a view from above has it; the fixed scale of :mod:`.thickness_colors`, as in Slicer). Below,
the left/right table with the asymmetry index, flagged above 6 % (asymmetric, Habets; the
panel's default threshold), the cautions and the first warnings. A joint the quality gate
(:mod:`..quality`) found not measurable says "not measurable: <reason>" in red where its
numbers would be (its slices are still shown when its condyle was found); a scan that is not
measurable says so under the title.

Without a CT (a label map measured on its own, ``nvseg negative-volume`` without ``--ct``) the
slices show the label map itself: bone (condyle and temporal bone) light grey on dark grey
(:func:`label_background`), and a line under the table says so.

Slices are resampled from the CT's physical space onto LPS-aligned planes (any direction matrix):
coronal = the x-z plane (patient's right on the image's left, superior up), sagittal = the y-z
plane (anterior on the left, superior up). Pixels are SLICE_PIXEL_MM wide over FIELD_MM.
"""

import os
import textwrap
import warnings as warnings_module

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..options import DEFAULTS
from . import thickness_colors
from .report_json import above_as_shown, asymmetry_flags, unflagged_nv_asymmetry

FIELD_MM = 40.0
SLICE_PIXEL_MM = 0.2
BONE_WINDOW = (-450.0, 1550.0)      # level 550, width 2000 HU
FLAG_ASYMMETRIC = DEFAULTS["asymmetry_threshold_percent"]   # the panel's red flag
OUTLINE_WIDTH = 1.6
DPI = 110
NOT_MEASURABLE_COLOUR = "#c0392b"
CAUTION_COLOUR = "#b9770e"
WARNING_WIDTH = 165                 # characters of a footer line (8.5 pt across the figure)


def not_measurable_reason(rep, side):
    """The quality gate's reason when ``side`` is not measurable, else None."""
    status = (rep.get("quality") or {}).get(side) or {}
    if status.get("measurable", True) and rep.get(side) is not None:
        return None
    return status.get("reason") or "not measured"


LABEL_BONE_HU, LABEL_OTHER_HU = 1000.0, 0.0  # what label_background paints (bone window)


def label_background(labels):
    """A stand-in for the CT's HU where there is none: a float array of the shape of ``labels``
    (a sampled plane of the label map), condyle and temporal-bone voxels (values 1-4)
    ``LABEL_BONE_HU``, everything else ``LABEL_OTHER_HU``. Painted on the sampled planes only: a
    full-size float copy of a 1000^3 label map took more than 8 GB."""
    labels = np.asarray(labels)
    lo, hi = min(L.CONDYLE.values()), max(L.TEMPORAL_BONE.values())    # 1 .. 4
    return np.where((labels >= lo) & (labels <= hi), LABEL_BONE_HU,
                    LABEL_OTHER_HU).astype(np.float32)


def _plane(centre, axes):
    """LPS-aligned 2D sampling grid (3D image of thickness 1) through ``centre`` spanning the two
    LPS axes ``axes`` (e.g. (0, 2) = coronal x-z)."""
    n = int(round(FIELD_MM / SLICE_PIXEL_MM)) + 1
    size = [1, 1, 1]
    size[axes[0]] = n
    size[axes[1]] = n
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing([SLICE_PIXEL_MM] * 3)
    origin = np.asarray(centre, dtype=float).copy()
    origin[axes[0]] -= FIELD_MM / 2.0
    origin[axes[1]] -= FIELD_MM / 2.0
    ref.SetOrigin([float(v) for v in origin])
    return ref


def sample_plane(ct, labels, centre, axes):
    """(HU 2D, labels 2D) on a plane; rows = second axis, columns = first axis (both increasing).
    ``ct`` None: the HU are the label map's stand-in (:func:`label_background`)."""
    ref = _plane(centre, axes)

    def squeeze(image):
        arr = sitk.GetArrayFromImage(image)         # (z, y, x) with one axis of length 1
        arr = arr.reshape([s for s in arr.shape if s != 1] or [1])
        return arr  # rows = the higher LPS axis of ``axes`` (z), columns = the lower one
    lab = squeeze(sitk.Resample(labels, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0,
                                sitk.sitkUInt8))
    if ct is None:
        return label_background(lab), lab
    hu = sitk.Resample(ct, ref, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    return squeeze(hu), lab


def _outline(ax, mask, colour, extent, fill=False):
    if not mask.any():
        return
    if fill:
        rgba = np.zeros(mask.shape + (4,))
        rgba[mask] = list(colour) + [0.35]
        ax.imshow(rgba, origin="lower", extent=extent, interpolation="nearest")
    ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=OUTLINE_WIDTH,
               origin="lower", extent=extent)


def _slice_panel(ax, hu, lab, side, extent, title, flip_x, letters):
    if flip_x:
        hu, lab = hu[:, ::-1], lab[:, ::-1]
    ax.imshow(hu, cmap="gray", vmin=BONE_WINDOW[0], vmax=BONE_WINDOW[1], origin="lower",
              extent=extent, interpolation="bilinear")
    for value, fill in ((L.TEMPORAL_BONE[side], False), (L.CONDYLE[side], False),
                        (L.NEGATIVE_VOLUME[side], True)):
        _outline(ax, lab == value, L.BY_VALUE[value].color, extent, fill)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    from matplotlib import patheffects

    dark = [patheffects.withStroke(linewidth=2.5, foreground="black")]   # legible on bone
    for text, x, y in ((letters[0], 0.02, 0.5), (letters[1], 0.98, 0.5), ("S", 0.5, 0.97)):
        ax.text(x, y, text, transform=ax.transAxes, color="white", fontsize=9, ha="center",
                va="center", fontweight="bold", path_effects=dark)
    ax.plot([extent[0] + 2, extent[0] + 12], [extent[2] + 2, extent[2] + 2], color="white", lw=2,
            path_effects=[patheffects.withStroke(linewidth=4, foreground="black")])
    ax.text(extent[0] + 7, extent[2] + 3, "10 mm", color="white", fontsize=7, ha="center",
            path_effects=dark)


def _thickness_panel(ax, fig, mesh, side):
    """The condyle mesh seen from above (anterior up, the patient's right on the right), faces
    coloured by joint-space thickness (mm)."""
    from matplotlib.collections import PolyCollection
    from vtkmodules.util.numpy_support import vtk_to_numpy

    ax.set_title("joint space on the condyle (from above)", fontsize=10)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if mesh is None or mesh.GetNumberOfPoints() == 0:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return None
    pts = vtk_to_numpy(mesh.GetPoints().GetData()).astype(float)
    from ..engine.surfaces import triangles
    polys = triangles(mesh)
    normals = mesh.GetCellData().GetNormals()
    if normals is not None:   # seen from above, a closed surface shows only its faces turned up
        polys = polys[vtk_to_numpy(normals)[:, 2] > 0]
    array = mesh.GetPointData().GetArray("JointSpaceThickness_mm")
    h = vtk_to_numpy(array).astype(float) if array is not None else np.zeros(len(pts))
    tri = pts[polys]
    order = np.argsort(tri[:, :, 2].mean(axis=1))            # painter: highest faces last
    tri, face_h = tri[order], h[polys][order]
    # seen from above (looking along -S), anterior (-y) up: the patient's right (-x) is on the
    # picture's right, as in the 3D views of docs/ (drawn mirrored, R on the left, until
    # 2026-12-07 under the same title)
    xy = np.stack([-tri[:, :, 0], -tri[:, :, 1]], axis=-1)
    hit = face_h.min(axis=1) > 0
    import matplotlib.cm as cm
    colours = thickness_colors.rgb(np.where(hit, face_h.mean(axis=1), 0.0))
    ax.add_collection(PolyCollection(xy, facecolors=colours, edgecolors="none",
                                     antialiased=False))   # no seams between the faces
    ax.set_xlim(xy[..., 0].min() - 1, xy[..., 0].max() + 1)
    ax.set_ylim(xy[..., 1].min() - 1, xy[..., 1].max() + 1)
    ax.text(0.5, 0.97, "A", transform=ax.transAxes, ha="center", va="top", fontsize=9,
            fontweight="bold")
    ax.text(0.02, 0.5, "L", transform=ax.transAxes, ha="left", va="center", fontsize=9,
            fontweight="bold")
    ax.text(0.98, 0.5, "R", transform=ax.transAxes, ha="right", va="center", fontsize=9,
            fontweight="bold")
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    stops = thickness_colors.STOPS
    top = thickness_colors.MAX_MM
    cmap = LinearSegmentedColormap.from_list(
        "joint_space_thickness", [(0.0, stops[0][1])] + [(v / top, c) for v, c in stops])
    mappable = cm.ScalarMappable(norm=Normalize(0.0, top), cmap=cmap)
    mappable.set_array([])
    fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02, extend="max",
                 label="joint space mm (grey: no contact)")
    return mappable


def _fmt(value, unit="", digits=1):
    return "-" if value is None else ("%.*f" % (digits, value)) + unit


# (title, key, unit, asymmetry key, decimals): volumes to 0.1 mm3, distances to 0.01 mm as the
# panel and nvseg's output give them (a minimum space of 0.04 mm is no contact)
ROWS = (("Negative volume", "negative_volume_mm3", " mm³", "negative_volume", 1),
        ("Condyle volume", "condyle_volume_mm3", " mm³", "condyle_volume", 1),
        ("Joint space min", "joint_space_min_mm", " mm", None, 2),
        ("Joint space mean", "joint_space_mean_mm", " mm", None, 2),
        ("Superior space", "joint_space_superior_mm", " mm", None, 2),
        ("Anterior space", "joint_space_anterior_mm", " mm", None, 2),
        ("Posterior space", "joint_space_posterior_mm", " mm", None, 2))


def flag(asymmetry):
    """'asymmetric' (> FLAG_ASYMMETRIC %, the panel's threshold) or '' (None-safe); judged on
    the value as shown (0.1 %): 6.04 reads "6.0 %" and is not above 6. No "borderline" band
    below it: 3-6 % lies within what the grid's caution says the NV is uncertain by."""
    return "asymmetric" if above_as_shown(asymmetry, FLAG_ASYMMETRIC) else ""


def table_cells(rep):
    """(cells, colours) of report.png's table: a row per :data:`ROWS` (title, right, left,
    asymmetry with its flag), colours as matplotlib names."""
    cells, colours = [], []
    missing = dict((side, not_measurable_reason(rep, side) is not None) for side in L.SIDES)
    red = asymmetry_flags(rep, FLAG_ASYMMETRIC)   # the panel's rule, at its default threshold
    for title, key, unit, asym_key, digits in ROWS:
        right = (rep.get(L.RIGHT) or {}).get(key)
        left = (rep.get(L.LEFT) or {}).get(key)
        asym = (rep.get("asymmetry_percent") or {}).get(asym_key) if asym_key else None
        if missing[L.LEFT] or missing[L.RIGHT]:
            asym = None          # never an asymmetry against a joint that was not measured
        note = "asymmetric" if asym_key in red else ""
        unflagged = unflagged_nv_asymmetry(rep) if asym_key == "negative_volume" else None
        if unflagged and asym is not None:
            note = "not flagged (%s)" % unflagged
        cells.append([title,
                      "not measurable" if missing[L.RIGHT] else _fmt(right, unit, digits),
                      "not measurable" if missing[L.LEFT] else _fmt(left, unit, digits),
                      ("%.1f %%" % asym + (" " + note if note else "")) if asym is not None
                      else ("-" if asym_key else "")])
        shade = "#f4a3a3" if note == "asymmetric" else "white"
        colours.append(["#eeeeee", "#f6d5d1" if missing[L.RIGHT] else "white",
                        "#f6d5d1" if missing[L.LEFT] else "white", shade])
    return cells, colours


def _table(ax, rep):
    ax.axis("off")
    cells, colours = table_cells(rep)
    table = ax.table(cellText=cells, cellColours=colours,
                     colLabels=["", "Right (patient)", "Left (patient)", "Asymmetry 100|L-R|/(L+R)"],
                     loc="upper center", cellLoc="center", colWidths=[0.2, 0.2, 0.2, 0.3])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1.0, 1.35)


def render_report_figure(path, ct, labels, rep, meshes=None, case="", max_warning_lines=5):
    """Write report.png to ``path``.

    Args:
        ct: SimpleITK CT (HU), or None: the slices then show the label map
            (:func:`label_background`); labels: SimpleITK label map 1-6 on the CT grid.
        rep: report.json dict (sides, asymmetry_percent, warnings, version, device).
        meshes: {side: {"condyle": vtkPolyData with JointSpaceThickness_mm, ...}} or None.
        case: case name for the title.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    meshes = meshes or {}
    no_ct = ct is None
    scan = (rep.get("quality") or {}).get("scan") or {}
    whole = not scan.get("measurable", True)   # the case as a whole: its reason under the title
    drawn = False
    fig = Figure(figsize=(13.0, 12.5), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, 3, height_ratios=[1.0, 1.0, 0.62], hspace=0.25, wspace=0.12,
                            bottom=0.15)   # the footer's up to 8 lines below the table
    for row, side in enumerate((L.RIGHT, L.LEFT)):
        values = rep.get(side)
        reason = not_measurable_reason(rep, side)
        centre = (((rep.get("quality") or {}).get(side) or {}).get("condyle_center_lps_mm")
                  if values is None else values.get("condyle_center_lps_mm"))
        name = "Right" if side == L.RIGHT else "Left"
        axes = [fig.add_subplot(grid[row, col]) for col in range(3)]
        if centre is None:
            for ax in axes:
                ax.axis("off")
            said = "(the scan's reason: above)" if whole else _wrap(reason, 60)
            axes[1].text(0.5, 0.5, "%s joint: not measurable:\n%s" % (name, said),
                         ha="center", va="center", fontsize=13, color=NOT_MEASURABLE_COLOUR,
                         fontweight="bold", transform=axes[1].transAxes)
            continue
        half, drawn = FIELD_MM / 2.0, True
        hu, lab = sample_plane(ct, labels, centre, (0, 2))
        extent = [centre[0] - half, centre[0] + half, centre[2] - half, centre[2] + half]
        _slice_panel(axes[0], hu, lab, side, extent, "%s joint, coronal" % name, False, ("R", "L"))
        hu, lab = sample_plane(ct, labels, centre, (1, 2))
        extent = [centre[1] - half, centre[1] + half, centre[2] - half, centre[2] + half]
        _slice_panel(axes[1], hu, lab, side, extent, "%s joint, sagittal" % name, False, ("A", "P"))
        if reason is None:
            _thickness_panel(axes[2], fig, (meshes.get(side) or {}).get("condyle"), side)
        else:
            axes[2].axis("off")
            axes[2].text(0.5, 0.5, "%s joint\nnot measurable:\n%s" % (name, _wrap(reason, 34)),
                         ha="center", va="center", fontsize=12, color=NOT_MEASURABLE_COLOUR,
                         fontweight="bold", transform=axes[2].transAxes)
    _table(fig.add_subplot(grid[2, :]), rep)
    warnings = list(rep.get("warnings") or [])
    cautions = list(rep.get("cautions") or [])
    if cautions:   # under the title, where the eye starts; wrapped, three lines at most
        shown = [line for c in cautions for line in textwrap.wrap("Caution: " + c, 118)]
        if len(shown) > 3:   # each caution's "what" (before its first ": "), all of them
            shown = textwrap.wrap("Caution: " + "; ".join(_what(c) for c in cautions) +
                                  " (what each means: report.json)", 118)
        if len(shown) > 3:
            shown = shown[:2] + ["... more cautions in report.json"]
        fig.text(0.5, 0.945, "\n".join(shown),
                 ha="center", va="top", fontsize=10.5, color=CAUTION_COLOUR, fontweight="bold")
    lines = ["Outlines: condyle (yellow), temporal bone (blue), negative volume (filled: green "
             "left, red right). " if drawn else ""]
    lines[0] += "Asymmetry flagged above %.0f %% (both sides measured)." % FLAG_ASYMMETRIC
    lines.append("A joint space shown '-': its ray met no temporal bone within the maximum "
                 "distance, or met air first.")
    if no_ct:
        lines.append("No CT given: the slices show the label map (condyle and temporal bone "
                     "light grey), and no air rule was applied.")
    lines += warning_lines(warnings, max_warning_lines)
    fig.text(0.06, 0.035, "\n".join(lines), fontsize=8.5, va="bottom")
    fig.suptitle("TMJ negative volume%s  (nvseg %s, %s)" % (" - " + case if case else "",
                                                          rep.get("version", "?"),
                                                          rep.get("device", "?")), fontsize=14)
    if whole:
        fig.text(0.5, 0.945, _wrap("NOT MEASURABLE: " + (scan.get("reason") or "-"), 100),
                 ha="center", va="top", fontsize=12.5, color=NOT_MEASURABLE_COLOUR,
                 fontweight="bold")
    with warnings_module.catch_warnings():   # a case or file name in a script the font lacks
        #                                        (CJK) is drawn as boxes, not warned on stderr
        warnings_module.filterwarnings("ignore", message="Glyph .* missing from")
        fig.savefig(path, dpi=DPI)
    return path


def warning_lines(warnings, max_lines=5, width=WARNING_WIDTH):
    """The footer's lines for ``warnings``: each wrapped at ``width`` characters over at most two
    lines ("..." where cut; report.json has the whole text), an input path at a warning's start
    shortened to its last part (the title names the case), at most ``max_lines`` lines with the
    last saying how many more warnings report.json holds."""
    lines = []
    for count, warning in enumerate(warnings):
        head, colon, rest = warning.partition(": ")
        if colon and os.sep in head:
            warning = os.path.basename(head.rstrip(os.sep)) + ": " + rest
        wrapped = textwrap.wrap("Warning: " + warning, width, subsequent_indent="    ")
        if len(wrapped) > 2:
            wrapped = [wrapped[0], wrapped[1][:width - 3].rstrip() + "..."]
        if len(lines) + len(wrapped) > max_lines - (count + 1 < len(warnings)):
            lines.append("... %d more warning%s in report.json"
                         % (len(warnings) - count, "" if len(warnings) - count == 1 else "s"))
            break
        lines += wrapped
    return lines


def _what(caution):
    """A caution's "what": its text before the first ": " after a "<side> side: " prefix, with
    the question it asks, if any ("... not seated in its fossa (mouth open?)")."""
    side = next((s for s in ("left side: ", "right side: ") if caution.startswith(s)), "")
    parts = caution[len(side):].split(": ")
    asks = [p.split(". ")[-1].split("? ")[0].strip() for p in parts[1:] if "?" in p]
    return side + parts[0] + (" (%s?)" % asks[0].rstrip("?") if asks else "")


def _wrap(text, width):
    return "\n".join(textwrap.wrap(text or "", width)) or "-"
