"""How thick the slices are that the image's detail comes from, read from the image itself.

A scan resampled from thick slices onto thin ones (an "isotropic" export, a converter's or a
viewer's reformat, a volume stacked from a 5 mm series and interpolated) keeps the thick slices'
detail on a fine grid, and the grid check (:func:`.quality.check_grid`) would take it for what its
spacing says. The real head of ../shared made of 5 mm slices and resampled back onto its 1 mm grid
read NV -13 / -18 % with no caution (`benchmarks/real_ct_probes.py`, ``slices_5_linear``).

The estimate compares, per physical frequency f (cycles/mm), the power spectrum of the image along
its slice axis with the mean of the two in-plane axes' (lines through the whole image, each
windowed). Anatomy has about as much detail across the slices as within them (the real head: the
ratio stays at 1.1-1.45 up to 0.45 cycles/mm; the head phantoms: 1.0-5), so the ratio, normalised
at 0.01-0.03 cycles/mm, falls to one half at f_half (and stays under it, on average over the next
0.1 cycles/mm) only where the slices blur what the in-plane pixels keep. The detail is that of
slices HALF_POWER_TIMES_MM / f_half thick: the constant is measured on the real head made of
boxcar slices 2, 3 and 5 mm thick and linearly resampled back to 1 mm (they read 1.95, 3.0 and
5.13 mm; docs/method.md "Quality gate"). Frequencies in cycles/mm, lengths in mm. numpy +
SimpleITK only.
"""

import numpy as np
import SimpleITK as sitk

HALF_POWER_TIMES_MM = 0.39       # f_half (cycles/mm) x slice thickness (mm): measured (above)
NORMALISE_BAND = (0.01, 0.03)    # cycles/mm: the ratio's reference (the head's coarse shapes)
SEARCH_MAX = 0.45                # cycles/mm: detail of ~0.87 mm slices; finer is the grid's matter
FREQUENCY_STEP = 0.002           # cycles/mm: the common grid the three spectra are read on
HOLD_BAND = 0.1                  # cycles/mm the ratio must stay under one half on average
SMOOTH_BINS = 5                  # running mean over 0.01 cycles/mm before the half is sought
MAX_LINE_SAMPLES = 4000000       # voxels read per axis (lines on a regular sub-grid)


def _power(array, axis, spacing, frequencies):
    """Mean power spectrum of ``array``'s lines along numpy ``axis`` (windowed, mean removed),
    read at ``frequencies`` (cycles/mm)."""
    lines = np.moveaxis(array, axis, -1)
    n = lines.shape[-1]
    count = lines.shape[0] * lines.shape[1]
    step = max(1, int(np.ceil(np.sqrt(count * n / float(MAX_LINE_SAMPLES)))))
    lines = np.array(lines[::step, ::step], dtype=np.float32).reshape(-1, n)   # a copy
    lines -= lines.mean(axis=1, keepdims=True)
    lines *= np.hanning(n).astype(np.float32)
    power = np.zeros(n // 2 + 1)
    for start in range(0, len(lines), 4096):   # bounded memory for the complex spectra
        power += (np.abs(np.fft.rfft(lines[start:start + 4096], axis=1)) ** 2).sum(axis=0)
    return np.interp(frequencies, np.fft.rfftfreq(n, d=spacing), power)


def detail_ratio(image, axis):
    """(frequencies in cycles/mm, the power along index axis ``axis`` over the other two axes'
    mean, smoothed and normalised to 1 at NORMALISE_BAND), or None when the image cannot tell:
    too small, too coarse, or its other axes' pixels coarser than the slices (then they are no
    reference for what the slices should hold)."""
    array = sitk.GetArrayViewFromImage(image)
    spacing = [float(s) for s in image.GetSpacing()]
    if min(array.shape) < 16 or max(s for a, s in enumerate(spacing) if a != axis) > spacing[axis]:
        return None
    top = min(SEARCH_MAX, 0.5 / max(spacing))
    if top <= NORMALISE_BAND[1] + 0.02:
        return None
    frequencies = np.arange(NORMALISE_BAND[0], top, FREQUENCY_STEP)
    power = {a: _power(array, 2 - a, spacing[a], frequencies) for a in range(3)}
    inplane = 0.5 * sum(power[a] for a in range(3) if a != axis)
    if not np.all(inplane > 0):
        return None
    window = np.ones(SMOOTH_BINS)   # a running mean, over fewer bins at the band's two ends
    ratio = (np.convolve(power[axis] / inplane, window, mode="same")
             / np.convolve(np.ones(len(frequencies)), window, mode="same"))
    reference = ratio[frequencies <= NORMALISE_BAND[1]].mean()
    return (frequencies, ratio / reference) if reference > 0 else None


def slice_detail_mm(image, axis):
    """Thickness (mm) of the slices whose detail ``image`` holds along its index axis ``axis``
    (0 / 1 / 2 = x / y / z of the SimpleITK image), judged against the other two axes; ``None``
    when it holds detail as fine as ~0.87 mm slices or finer (nothing to add to its spacing), or
    when the image cannot tell (:func:`detail_ratio`)."""
    curve = detail_ratio(image, axis)
    if curve is None:
        return None
    frequencies, ratio = curve
    # the first frequency from which the ratio is under one half, and on average over the next
    # HOLD_BAND too: a blur loses the detail above it for good, where the notches of a few large
    # flat edges (box shapes, whose spectra dip and recover within a few 0.01 cycles/mm) do not
    width = int(round(HOLD_BAND / FREQUENCY_STEP))
    sums = np.concatenate([[0.0], np.cumsum(ratio)])
    ends = np.minimum(np.arange(len(ratio)) + width, len(ratio))
    ahead = (sums[ends] - sums[:-1]) / (ends - np.arange(len(ratio)))
    found = np.nonzero((ratio < 0.5) & (ahead < 0.5) & (frequencies > NORMALISE_BAND[1]))[0]
    if not len(found):
        return None
    return HALF_POWER_TIMES_MM / float(frequencies[found[0]])
