"""moi's benchmarks: each figure measured beside its floor, in the same run.

Run from the repository root as ``python -m bench`` (``make bench``); see
:mod:`bench.__main__` for the options. One module per measurement; :mod:`bench.harness`
holds the private servers and the repetition, :mod:`bench.report` the figures, the
table and the JSON.
"""
