"""What organize writes for people to read: the HTML report, keyframe export, and the rule for organize's own output
files (write new files, replace only files of ours, never anything else).

May import: anything below the library service (pipeline, engine, analysis, features, scan, the leaves).
"""
