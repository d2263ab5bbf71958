"""Reading and writing: CT files and DICOM series (geometry kept, bad input refused in one line),
label maps and Slicer .seg.nrrd files, and the all-or-nothing results folder.
"""
