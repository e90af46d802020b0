"""store/: what the library remembers. The SQLite catalog (and its migrations) is the truth; the vector
snapshot and the approximate index are derived from it, carry the catalog state they were built from, and
are rebuilt when they disagree with it. May import the top-level pieces (config, errors, names, progress)
and nothing above it (no ingest, search, models or service).
"""
