"""Running analyses: the in-process and local executors (worker processes with crash isolation and time limits), the
Ray executor, the shared model process, the completeness probe, and how organize starts its child processes.

May import: analysis, features and the top-level leaves. Never grouping, store, moves or outputs.
"""
