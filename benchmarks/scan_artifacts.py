"""Series and dose artefacts made on a real CT for the real-CT probes (benchmarks/real_ct_probes.py):

- ``interpolated_<n>`` / ``copied_<n>``: <n> axial slices from the condyles' top (the higher of
  the two condylar heads, CONDYLE_TOP_MM above the centres' mean) downwards replaced by linear
  interpolation between the slices either side, or by copies of the slice above them: a series
  with slices missing whose loader made its geometry regular (Slicer's DICOM loader regularises
  the acquisition geometry; converters fill gaps). The grid still says 1 mm slices;
- ``noise_<side>_<hu>``: Gaussian noise of <hu> HU, correlated in-plane (sigma 0.6 pixel, as
  ``noise_<hu>``), within NOISE_RADIUS_MM of that side's condyle centre (a low-dose scan's grain
  at one joint, the other as scanned: one run shows both a noisy and a clean side).

The scan's axes must be LPS's (the real head of ../shared). HU in, HU out, the scan's pixel type.
"""

import numpy as np
import SimpleITK as sitk

CONDYLE_TOP_MM = 8.5     # the real head's condylar heads end ~8.5 mm above their centres
NOISE_RADIUS_MM = 35.0   # noise_<side>_<hu>: the ball around that condyle's centre


def _lps_axes(scan):
    if not np.allclose(np.abs(np.reshape(scan.GetDirection(), (3, 3))), np.eye(3)):
        raise ValueError("the scan's axes must be LPS's")


def _copy(array, like):
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(like)
    return out


def made_slices(scan, centres, n, how):
    """``interpolated_<n>`` (how "interpolated") / ``copied_<n>`` ("copied"): module docstring.
    ``centres``: the condyle centres (LPS mm)."""
    _lps_axes(scan)
    top = float(np.mean([c[2] for c in centres])) + CONDYLE_TOP_MM
    k_top = int(round(scan.TransformPhysicalPointToContinuousIndex((0.0, 0.0, top))[2]))
    array = sitk.GetArrayFromImage(scan)
    if scan.GetDirection()[8] > 0:   # the made slices first .. last, from the top downwards
        first, last = k_top - n + 1, k_top
    else:
        first, last = k_top, k_top + n - 1
    below, above = array[first - 1].astype(np.float64), array[last + 1].astype(np.float64)
    for i, k in enumerate(range(first, last + 1)):
        if how == "interpolated":
            w = (i + 1.0) / (n + 1.0)
            array[k] = np.round((1.0 - w) * below + w * above).astype(array.dtype)
        elif how == "copied":   # of the slice above them
            array[k] = array[last + 1] if scan.GetDirection()[8] > 0 else array[first - 1]
        else:
            raise ValueError("unknown kind %r" % how)
    return _copy(array, scan)


def joint_noise(scan, centre, hu, seed=3):
    """``noise_<side>_<hu>``: module docstring; ``centre``: that condyle's centre (LPS mm)."""
    from scipy.ndimage import gaussian_filter

    _lps_axes(scan)
    array = sitk.GetArrayFromImage(scan)
    noise = gaussian_filter(np.random.default_rng(seed).normal(0.0, 1.0, array.shape).astype(
        np.float32), (0.0, 0.6, 0.6))
    noise *= hu / noise.std()
    k, j, i = np.meshgrid(*[np.arange(n) for n in scan.GetSize()[::-1]], indexing="ij",
                          sparse=True)
    o, s = scan.GetOrigin(), scan.GetSpacing()
    inside = ((o[0] + s[0] * i - centre[0]) ** 2 + (o[1] + s[1] * j - centre[1]) ** 2
              + (o[2] + s[2] * k - centre[2]) ** 2) <= NOISE_RADIUS_MM ** 2
    info = np.iinfo(array.dtype) if array.dtype.kind in "iu" else None
    noisy = array.astype(np.float32) + np.where(inside, noise, 0.0)
    if info is not None:
        noisy = np.clip(np.round(noisy), max(info.min, -1024), min(info.max, 3071))
    return _copy(noisy.astype(array.dtype), scan)
