"""store/: what the library remembers. The SQLite catalog (with its stepwise migrations, and its captions'
and read text's queries in catalog_words) is the truth; the vector snapshot and the approximate index are
derived from it, carry the catalog state they were built from, and are rebuilt when they disagree with it.
Also what writing a batch takes, WAL checkpoints, forgetting, the per-folder figures, and the lock that lets
one index run write at a time. May import decode/ (a photo's facts), search/filters (the filter type it
turns into SQL) and the top-level pieces; never ingest/, models/ or service/.
"""
