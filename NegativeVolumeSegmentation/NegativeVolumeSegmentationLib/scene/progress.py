"""Progress of a run as the panel shows it: stage name -> (fraction done, text).

Pipeline stages are those of :data:`..pipeline.STAGES` / :data:`..pipeline.MEASURE_STAGES`
(announced by the pipeline and, from the background child, through its progress file), plus
"start", "write" (the child writing its results), "load" (writing the scene) and "done".
"""

# stage -> (fraction of the run done when the stage starts, text for the panel)
SEGMENT_STAGES = {
    "start": (0.0, "Starting: loading PyTorch and the models"),
    "read": (0.08, "Reading the CT"),
    "localise": (0.12, "Finding both joints"),
    "segment": (0.25, "Segmenting condyle and temporal bone"),
    "postprocess": (0.65, "Cleaning up the segmentation"),
    "geometry": (0.68, "Measuring the negative volume"),
    "write": (0.8, "Saving the outputs"),
    "load": (0.9, "Writing segments, surfaces, models and the table"),
    "done": (1.0, "Done"),
}
MEASURE_STAGES = {
    "start": (0.0, "Starting"),
    "read": (0.05, "Exporting condyle and temporal bone segments"),
    "geometry": (0.2, "Measuring the negative volume"),
    "write": (0.8, "Saving the outputs"),
    "load": (0.9, "Writing segments, surfaces, models and the table"),
    "done": (1.0, "Done"),
}


def stage_progress(stage, segment=True):
    """(fraction 0-1, text) of a stage name; an unknown stage keeps fraction None."""
    table = SEGMENT_STAGES if segment else MEASURE_STAGES
    if stage in table:
        return table[stage]
    return None, str(stage)
