"""The module's self-test checks and the offscreen renderer of Slicer views.

Not part of the importable library: the Slicer self-test (NegativeVolumeSegmentationTest) and the
pytest suite (Testing/scene) run the same checks; docs/scripts use the renderer for screenshots.
"""
