"""Looking at one video: decoding (PyAV, with OpenCV as the fallback), the edit (shots, cuts, fades), the frames
worth sending to the model, keyframe selection, and `analyse_video`, which turns a file into an `Analysis`.

May import: features, vectors and the top-level leaves (types, errors, clock, inputs). Never engine, grouping,
store, moves or outputs: analysis runs inside worker processes and knows nothing of libraries.
"""
