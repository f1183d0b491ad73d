"""Job functions the bench runs on engines. Engines import them from here, by name."""


def double(x, **kwargs):
    """The trivial job: all its cost is the dispatch's."""
    return x * 2
