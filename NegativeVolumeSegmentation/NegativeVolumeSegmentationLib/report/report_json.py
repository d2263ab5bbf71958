"""report.json: the per-case result contract of docs/interfaces.md.

``left`` / ``right``: the measured values of each joint (negative volume and condyle volume in
mm^3, joint-space thickness in mm, condyle centre in LPS mm, ``measurable`` true) or null with
the reason in ``quality`` (the engine's own message, if any, also in ``warnings``);
``asymmetry_percent`` = 100 |L - R| / (L + R) per quantity, null
when a side is missing; ``quality``: the quality gate's verdict (:mod:`..quality`):
{"scan": {"measurable", "reason"}, "left": {"measurable", "reason"}, "right": ...};
``cautions``: one-line strings for numbers kept from an imperfect scan; ``timings_s`` with at
least ``total``; ``device``; ``version``.
"""

import math

from .. import __version__
from .. import labels as L
from ..quality import side_status

REQUIRED_SIDE_KEYS = ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
                      "joint_space_mean_mm", "condyle_center_lps_mm")


def asymmetry_percent(left, right):
    """100 |L - R| / (L + R) (percent), or None when a value is missing or L + R is 0."""
    if left is None or right is None:
        return None
    total = float(left) + float(right)
    if total <= 0 or not math.isfinite(total):
        return None
    return 100.0 * abs(float(left) - float(right)) / total


def above_as_shown(percent, threshold_percent):
    """True when an asymmetry ``percent`` is above ``threshold_percent`` as shown, to 0.1 %
    ("6.0 %" is not above 6 %): the one rule for every flag (panel, table, report.png)."""
    return percent is not None and round(percent, 1) > threshold_percent


def unflagged_nv_asymmetry(rep):
    """Why report ``rep``'s NV asymmetry, though measured, must not be flagged, or None: a
    condyle rides on its articular eminence (``joint_bounds.on_eminence``, mouth open?), so the
    two NVs differ by how far each condyle glided, not by their joints. The condyle volume's
    asymmetry (bone only) keeps its flag."""
    for side in L.SIDES:
        if ((rep.get(side) or {}).get("joint_bounds") or {}).get("on_eminence"):
            return "mouth open?"
    return None


def asymmetry_flags(rep, threshold_percent):
    """The asymmetries of report ``rep`` to flag: keys of ``asymmetry_percent``
    ("negative_volume", "condyle_volume") above ``threshold_percent`` (percent) as shown, to
    0.1 % ("6.0 %" is not above 6 %). None when a side is not measurable (never an asymmetry
    against a joint that could not be measured); the NV's not when
    :func:`unflagged_nv_asymmetry` says why."""
    status = rep.get("quality") or {}
    if any(rep.get(side) is None or (status.get(side) or {}).get("measurable") is False
           for side in L.SIDES):
        return []
    asymmetry = rep.get("asymmetry_percent") or {}
    keys = ("condyle_volume",) if unflagged_nv_asymmetry(rep) else (
        "negative_volume", "condyle_volume")
    return [key for key in keys if above_as_shown(asymmetry.get(key), threshold_percent)]


def _side_value(side, key):
    return None if side is None else side.get(key)


def _clean(value):
    """JSON-safe copy: numpy scalars to float/int, non-finite floats to None."""
    if isinstance(value, dict):
        return dict((str(k), _clean(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_report(sides, warnings=(), timings_s=None, device="cpu", extra=None, quality=None,
                 cautions=()):
    """The report.json dictionary.

    Args:
        sides: {"left": values dict or None, "right": ...} (values as from
            :func:`..engine.measure.measure_negative_volume`).
        warnings: one-line strings; timings_s: {stage: seconds}, ``total`` added if absent.
        device: "cpu" or the accelerator used; extra: more top-level keys (e.g. inputs).
        quality: the quality block (:func:`..quality.side_status`); default: a side with values
            is measurable, a null side is not (reason: its warning).
        cautions: one-line strings (numbers kept from an imperfect scan).
    """
    report = {}
    for side in L.SIDES:
        values = sides.get(side)
        if values is not None:
            missing = [k for k in REQUIRED_SIDE_KEYS if k not in values]
            if missing:
                raise ValueError("%s side lacks report keys %s" % (side, ", ".join(missing)))
        report[side] = None if values is None else dict(values, measurable=True)
    report["asymmetry_percent"] = {
        "negative_volume": asymmetry_percent(_side_value(sides.get(L.LEFT), "negative_volume_mm3"),
                                             _side_value(sides.get(L.RIGHT), "negative_volume_mm3")),
        "condyle_volume": asymmetry_percent(_side_value(sides.get(L.LEFT), "condyle_volume_mm3"),
                                            _side_value(sides.get(L.RIGHT), "condyle_volume_mm3")),
    }
    report["quality"] = side_status(sides, warnings) if quality is None else quality
    report["cautions"] = list(cautions)
    report["warnings"] = list(warnings)
    timings = dict(timings_s or {})
    timings.setdefault("total", float(sum(v for k, v in timings.items())))
    report["timings_s"] = timings
    report["device"] = device
    report["version"] = __version__
    if extra:
        report.update(extra)
    return _clean(report)
