"""Moving files without losing one: the plan as data (plan), building it (planner), reading an edited manifest
(manifest), the journal, the file operations (fsops), applying (mover), recovering after a crash (recovery), undo.

May import: the top-level leaves (types, errors, clock, digest, inputs, layout). Never analysis, engine, grouping or
store: a plan is all the mover needs. Inside, plan is imported by everything and imports nothing of moves/.
"""
