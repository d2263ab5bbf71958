"""What a run reports: the report.json dictionary (asymmetry included) and the report.png figure.
"""
