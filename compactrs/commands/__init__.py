"""One module per CLI command; each exposes ``command`` and only translates options into one API call."""
