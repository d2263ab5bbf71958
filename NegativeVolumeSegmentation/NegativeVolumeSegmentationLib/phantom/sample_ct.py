"""The sample head CT to try the Slicer module on: a held-out head phantom, written as NRRD.

Seed 100010 was never used in training (the bundled models saw seeds 0-23). Beside the CT
(int16 HU, LPS geometry) lies ``<name>.truth.json``: the phantom's truth, per side the true
negative and condyle volumes (mm³) and condyle centre (LPS mm), so a user can compare Apply's
numbers with it. Written once, reused afterwards; each file is written atomically.
"""

import json
import os

SEED = 100010
OPTIONS = {"fov": "head", "mouth": "closed", "spacing": (0.65, 0.65, 1.25)}


def file_name(seed=SEED):
    return "NegativeVolumeSegmentation-TMJ-phantom-head-CT-%d.nrrd" % seed


def write_sample_ct(folder, seed=SEED):
    """Path of the sample CT in ``folder``, generated there first when absent (10-30 s)."""
    import SimpleITK as sitk

    from ..io.atomic import atomic_path
    from . import make_phantom

    path = os.path.join(folder, file_name(seed))
    truth_path = path[:-len(".nrrd")] + ".truth.json"
    if os.path.isfile(truth_path) and os.path.isfile(path) and os.path.getsize(path) > 0:
        return path
    os.makedirs(folder, exist_ok=True)
    phantom = make_phantom("head", seed=seed, **OPTIONS)
    with atomic_path(path, ".nrrd") as temporary:
        sitk.WriteImage(phantom.ct, temporary, True)
    with atomic_path(truth_path, ".json") as temporary:
        with open(temporary, "w") as handle:
            json.dump(phantom.truth, handle, indent=2)
    return path
