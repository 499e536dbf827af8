"""The library's state database (SQLite in PATH/.organizer): its schema, the codec for analyses, the
`LibraryState` that caches analyses and remembers clusters, and the inventory that identifies files by content.

May import: types, errors, clock, layout. Never analysis, engine, grouping or moves.
"""
