"""search/: answering. Query parsing (text and image terms, weights), filters (dates, camera, folder, type),
exact top-k over the vectors, caption ranking fused with CLIP, near-duplicates, and the app's search history.
May import store/, models/ (to encode a query) and the top-level pieces; never ingest/ or service/.
"""
