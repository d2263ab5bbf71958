"""Config-driven training and evaluation of the segmentation networks and the joint localiser.

- :mod:`.config`: schema, defaults and validation of JSON / YAML configs.
- :mod:`..inference.crops`: crops around a joint at a target spacing, right joints mirrored
  (shared with inference); :mod:`..inference.head_grid`: the localiser's whole-head grids.
- :mod:`.label_crops`: the training labels' class crops (0 background, 1 MC, 2 TB).
- :mod:`.augment`: geometric (SimpleITK transforms) and intensity augmentation.
- :mod:`.data`: cached phantoms and folders of user cases, turned into an infinite seeded stream.
- :mod:`.localizer`: the coarse localiser's inputs, ball targets and joint detection.
- :mod:`.trainer`: the training loop (progress, resume, seeds, CUDA + AMP or CPU).
- :mod:`.evaluate`: held-out scores per structure and side, NV from predicted vs truth masks.

Command line: ``nvseg train --config CFG`` and ``nvseg evaluate --config CFG``.
"""
