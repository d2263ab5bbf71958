"""The module's Sample Data entry: a head CT phantom with known joint spaces, generated locally
on first use (no download): the held-out phantom the module's own pipeline checks measure
(phantom/sample_ct.py). Runs inside Slicer (Qt, slicer.util); imported by the module file only
once the application has started up.
"""

import logging
import os
import pathlib
import tempfile

SAMPLE_DATA_NAME = "TMJ phantom head CT"
SAMPLE_DATA_CATEGORY = "Negative Volume Segmentation"
# phantom.sample_ct.file_name() (test_module_panel.py checks): registering at every Slicer
# start must not import the phantom package (SimpleITK) for a file name
SAMPLE_FILE_NAME = "NegativeVolumeSegmentation-TMJ-phantom-head-CT-100010.nrrd"


def sample_data_folder():
    """Slicer's cache folder (where Sample Data keeps its files), else the temporary folder."""
    import slicer

    folder = getattr(getattr(slicer, "app", None), "cachePath", None)
    return folder or tempfile.gettempdir()


def register_sample_data(thumbnail):
    """Add "TMJ phantom head CT" to the Sample Data module (``thumbnail``: its icon file). Its
    customDownloader generates the CT locally (:func:`write_phantom_sample`); the URI is where
    that file is kept, so that SampleData.downloadSample finds it in the cache once generated.
    Nothing happens when the Sample Data module is disabled."""
    try:
        import SampleData
    except ImportError:  # the Sample Data module is disabled in this Slicer
        logging.info("Sample Data module not found: %s not registered", SAMPLE_DATA_NAME)
        return
    path = os.path.join(sample_data_folder(), SAMPLE_FILE_NAME)
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_DATA_CATEGORY,
        sampleName=SAMPLE_DATA_NAME,
        uris=pathlib.Path(os.path.abspath(path)).as_uri(),
        fileNames=SAMPLE_FILE_NAME,
        nodeNames=SAMPLE_DATA_NAME,
        thumbnailFileName=thumbnail,
        loadFileTypes="VolumeFile",
        customDownloader=download_phantom_sample,
    )


def write_phantom_sample(folder=None):
    """The phantom head CT in ``folder`` (default: Slicer's cache), generated on first use,
    reused afterwards. Returns its path."""
    from ..phantom.sample_ct import write_sample_ct

    return write_sample_ct(folder or sample_data_folder())


def download_phantom_sample(source=None):
    """Sample Data's customDownloader (called with the SampleDataSource): generate the phantom
    CT if needed and load it as the volume "TMJ phantom head CT". Returns the volume node, or
    None after telling the user why it could not be generated."""
    import qt
    import slicer

    slicer.app.setOverrideCursor(qt.Qt.WaitCursor)
    try:
        path = write_phantom_sample()
    except Exception as error:
        logging.exception("The TMJ phantom could not be generated")
        slicer.util.errorDisplay("The TMJ phantom could not be generated:\n%s" % error)
        return None
    finally:
        slicer.app.restoreOverrideCursor()
    return slicer.util.loadVolume(path, {"name": SAMPLE_DATA_NAME})
