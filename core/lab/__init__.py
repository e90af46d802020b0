"""Research tools, apart from the runtime: captioned datasets, eval, training, the shapes world, random models.

The engine reaches in here only for `eval`; tests, benchmarks and the demo
recipe use `random_models` to build full-size or tiny models without a hub.
"""
