"""The negative-volume engine: surfaces of the condyle and temporal bone, inflation of the condyle
along its normals, the NV voxel mask and the per-joint measurement. LPS mm throughout.
"""
