"""The DICOM header of a volume that Slicer's DICOM module loaded.

``nvseg run`` on a DICOM folder gives the CT image the measured series' identity and
SliceThickness (:func:`..io.dicom_series.tag_image`): the quality gate judges slices by the
thicker of spacing and thickness, and report.json names the series. A volume node loaded by
Slicer's DICOM module carries only its instances' UIDs (attribute ``DICOM.instanceUIDs``); the
file of its first instance, found through ``slicer.dicomDatabase``, gives the same header here,
so the panel and the command line judge the same series alike. Volumes loaded from files, or
whose database or files are gone, are left as they are.
"""

import os

from ..io.dicom_series import describe_series, tag_image

INSTANCE_UIDS = "DICOM.instanceUIDs"   # node attribute set by Slicer's DICOM scalar volume plugin


def instance_file(volume_node):
    """Path of the DICOM file of the node's first instance in Slicer's DICOM database, or None."""
    uids = (volume_node.GetAttribute(INSTANCE_UIDS) or "").split()
    if not uids:
        return None
    try:
        import slicer

        database = getattr(slicer, "dicomDatabase", None)
        if database is None or not database.isOpen:
            return None
        path = database.fileForInstance(uids[0])
    except Exception:   # no database in this Slicer (or a stand-in without one): nothing to read
        return None
    return path if path and os.path.isfile(path) else None


def tag_image_from_dicom(volume_node, image):
    """``image`` (the node's SimpleITK image) with the series identity and SliceThickness of the
    DICOM file the node was loaded from (:func:`instance_file`), when there is one."""
    path = instance_file(volume_node)
    if path is not None:
        tag_image(image, describe_series("", [path]))
    return image
