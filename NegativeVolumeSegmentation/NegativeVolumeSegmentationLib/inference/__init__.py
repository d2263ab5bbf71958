"""From a CT to condyle and temporal-bone labels: bundled models, device choice, the joint
localiser, the joint search, crops, sliding-window inference and post-processing. Imports
nothing from training.
"""
