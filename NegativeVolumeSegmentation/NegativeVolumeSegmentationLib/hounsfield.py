"""Is the image a CT in Hounsfield units, with its bone intensities whole?

Scan-level intensity checks of the quality gate (:mod:`.quality`, docs/method.md "Quality
gate"), read on a regular sample of the voxels:

- **not a CT in HU** (a reason: nothing is measured): 8-bit data, no air, no bone, values outside
  any CT range (MRI, unrescaled or display-windowed exports), soft tissue far from 0-100 HU
  (grey values on another scale, as a CBCT's);
- **padding** (not a check): the value scanners write outside the reconstruction circle
  (-2000, -2048, -3024, -32768 HU, ...: the image's minimum, below PADDING_BELOW_HU) is neither
  air nor an intensity for the checks, and is made air (:func:`padding_as_air`) before the
  networks' smoothing and resampling mix it into the voxels beside it;
- **bone clipped** (an export cut at a display window's top, e.g. 1000 HU): a plateau of the
  bone at exactly the image's maximum. Measured on the real head of ../shared (its cortex reaches
  ~1700 HU) clipped at 2000 / 1500 / 1200 / 1000 / 700 HU: NV -0.2 / -0.3 / -1.4 / -3.3 /
  -5.8 % on the worse side, condyle volume +0.0 / +1.2 / +3.2 / +4.9 / +8.2 %, the minimum joint
  space 1.15 -> 0.56 mm at 700 HU. Below CLIP_REFUSE_HU the side is not measurable, below
  CLIP_CAUTION_HU the report cautions.

Intensities in HU, volumes in cm^3. numpy, scipy and SimpleITK only.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

AIR_HU = -500.0             # air is ~-1000 HU; MRI, 8-bit and unrescaled CT have nothing below
BONE_HU = 300.0             # cortical bone is 1000+ HU; soft tissue stays below ~100 HU
MIN_AIR_CM3 = 1.0           # the ear canals alone hold ~1 cm3 each; a one-joint CBCT crop 36 cm3
MIN_BONE_CM3 = 5.0          # skull base + mandible around one joint: 45+ cm3 in a CBCT crop
MAX_HU, MIN_HU = 40000.0, -10000.0   # beyond extended-scale metal / below any padding value
SOFT_TISSUE_PEAK_HU = (-250.0, 250.0)   # the soft-tissue peak of a CT in HU: the real head 50,
                            # head phantoms 30-50; the real head's probes measured within 3 %
                            # peak at -110 (CBCT cupping 20 %) .. +110 (all HU + 60); as a CBCT's
                            # grey values, 1.5 (HU + 1000) - 1000, it peaks at 570 and read its
                            # condyles +11 / +14 %, minimum joint spaces -0.4 mm
SAMPLE_VOXELS = 2000000     # voxels sampled (regular grid) for the intensity checks
CLIP_FRACTION = 0.05        # bone (> BONE_HU) at exactly the maximum: a clipped export (the real
                            # head clipped at 2000 / 1500 HU: 0.1 / 18 %; metal saturating a
                            # 12-bit scale is a few fillings, well under 5 % of the bone)
CLIP_CAUTION_HU = 1500.0    # clipped below this: condyle +3 to +5 %, NV -1 to -3 % (above)
CLIP_REFUSE_HU = 1000.0     # clipped below this: NV -5.8 %, condyle +8 % at 700 HU: not measurable
PADDING_BELOW_HU = -1500.0  # below any air (-1000 HU, noise tens of HU): a padding value
PADDING_AS_HU = -1024.0     # what padding becomes: air at the scale's bottom, as a scanner's air
FLAT_PATCH_PIXELS = 5       # a patch of this many pixels square holding one value: padding (any
                            # value: 0 from some resamplers), never anatomy, which has noise


def _sample(image):
    """(regular sample as float64, cm3 per sampled voxel, min, max) of ``image``."""
    array = sitk.GetArrayViewFromImage(image)
    step = max(1, int(round((array.size / float(SAMPLE_VOXELS)) ** (1.0 / 3.0))))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float64)
    cm3 = float(np.prod(image.GetSpacing())) * step ** 3 / 1000.0
    return sample, cm3, float(array.min()), float(array.max())


def soft_tissue_peak(sample):
    """The most frequent value (20 HU bins, smoothed over three) between air and dense bone
    (AIR_HU..2500) of a sample: a head's brain and muscle, 30-50 HU in a CT."""
    values = sample[(sample > AIR_HU) & (sample < 2500.0)]
    if values.size == 0:
        return float("nan")
    counts, edges = np.histogram(values, bins=np.arange(AIR_HU, 2520.0, 20.0))
    counts = np.convolve(counts, np.ones(3) / 3.0, mode="same")
    return float(edges[int(np.argmax(counts))] + 10.0)


def check_intensities(image):
    """(reasons, cautions): why the image is not a CT in Hounsfield units or cannot support a
    measurement (8-bit data, no air, no bone, values outside any CT range, bone clipped below
    CLIP_REFUSE_HU), and what merely makes it less certain (bone clipped below CLIP_CAUTION_HU)."""
    sample, cm3, lo, hi = _sample(image)
    reasons, cautions = [], []
    integer = bool(np.all(sample == np.round(sample)))
    if integer and ((0.0 <= lo and hi <= 255.0) or (-128.0 <= lo and hi <= 127.0)):
        reasons.append("8-bit data (values %.4g..%.4g), not Hounsfield units" % (lo, hi))
    padding = sample == lo if lo < PADDING_BELOW_HU else np.zeros(sample.shape, bool)
    if lo < PADDING_BELOW_HU and not padding.all():   # one padding value (-3024, -32768, ...;
        lo = float(sample[~padding].min())    # the sample may miss it) is no intensity and no
                                              # air: the rest is judged
    air = np.count_nonzero((sample < AIR_HU) & ~padding) * cm3
    bone_voxels = sample > BONE_HU
    bone = np.count_nonzero(bone_voxels) * cm3
    if air < MIN_AIR_CM3:
        reasons.append("not a CT in HU: no air (%.2g cm3 below %.0f HU; MRI-like or unrescaled "
                       "intensities %.4g..%.4g)" % (air, AIR_HU, lo, hi))
    if bone < MIN_BONE_CM3:
        reasons.append("not a CT in HU: no bone (%.2g cm3 above %.0f HU, at least %.0f cm3 "
                       "expected)" % (bone, BONE_HU, MIN_BONE_CM3))
    if hi > MAX_HU or lo < MIN_HU:
        reasons.append("intensities %.4g..%.4g outside any CT range" % (lo, hi))
    if reasons:
        return reasons, cautions
    peak = soft_tissue_peak(sample)
    if not SOFT_TISSUE_PEAK_HU[0] <= peak <= SOFT_TISSUE_PEAK_HU[1]:
        reasons.append("not a CT in HU: its soft tissue peaks at %.0f (a CT's at 0-100 HU; "
                       "accepted %.0f..%.0f): grey values on another scale, as a CBCT's?"
                       % ((peak,) + SOFT_TISSUE_PEAK_HU))
        return reasons, cautions
    clipped = np.count_nonzero(sample == hi) / float(max(1, np.count_nonzero(bone_voxels)))
    if clipped >= CLIP_FRACTION and hi < CLIP_CAUTION_HU:
        what = ("intensities clipped at %.0f HU (%.0f %% of the bone at that value, as in an "
                "export cut at a display window)" % (hi, 100.0 * clipped))
        if hi < CLIP_REFUSE_HU:
            reasons.append(what + ": the bone's edges are lost")
        else:
            cautions.append(what + ": condyle volume may read up to ~5 % large, negative volume "
                            "up to ~4 % small")
    return reasons, cautions


def padding_as_air(image):
    """``image`` with its values below PADDING_BELOW_HU (padding outside the reconstruction
    circle: -2000 stored with intercept -1024 reads -3024 HU) set to PADDING_AS_HU, metadata
    kept; ``image`` itself (no copy) when it has none. The real head written as DICOM with -3024
    outside a circle reached by the image's corners read NV -0.27 % on one side (the localiser
    and the crops smooth and resample linearly before their clip at the air's value)."""
    extremes = sitk.MinimumMaximumImageFilter()
    extremes.Execute(image)
    if extremes.GetMinimum() >= PADDING_BELOW_HU:
        return image
    out = sitk.Threshold(image, PADDING_BELOW_HU, extremes.GetMaximum(), PADDING_AS_HU)
    for key in image.GetMetaDataKeys():
        out.SetMetaData(key, image.GetMetaData(key))
    return out


def flat_patches(array):
    """Boolean of ``array``'s voxels (its last two axes a slice) at the centre of a
    FLAT_PATCH_PIXELS-square patch of one value within their slice: padding, whatever its value
    (a scanner's below -1500 HU, or 0 HU from a resampler's fill), not anatomy (noise)."""
    size = (1,) * (array.ndim - 2) + (FLAT_PATCH_PIXELS,) * 2
    return ndimage.maximum_filter(array, size) == ndimage.minimum_filter(array, size)
