"""models/: the things that turn pixels or positions into meaning: CLIP-family encoders, GIT, OCR, places,
hub loading, and the table of recommended models.

Each module here loads its model lazily (torch and transformers are imported inside, on the inference
thread) and raises the typed errors of `clipgit.core.errors`; none prints. May import decode/ (a model's own
preprocessing) and the top-level pieces; nothing of store/, ingest/, search/ or service/.
"""
