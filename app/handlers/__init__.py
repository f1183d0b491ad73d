"""Request handlers, one module per area of the site; each module lists its ``routes``."""
