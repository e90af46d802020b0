"""decode/: open images fast and safely. One image (draft decode, orientation, limits against decompression
bombs), a photo's own facts (EXIF dates, camera, GPS), JPEG headers, GPU decode (nvJPEG), the model's
preprocessing in torch, and the pools that decode many files at once (threads, worker processes over shared
memory, the split between the card and the cores). May import the top-level pieces (config, errors, names)
and nothing else of core: the indexer, captions, OCR and evaluation all sit above it.
"""
