"""ingest/: getting a library's pictures into the catalog. An index run (walk, classify, decode, embed,
commit per batch) and the transaction that writes each batch, the batch pipeline that keeps the model fed,
the read plan that picks a decoder per machine, caption jobs, OCR jobs, and the watcher that notices changed
files. May import decode/, store/, models/ and the top-level pieces; never search/ or service/.
"""
