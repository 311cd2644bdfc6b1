"""Use cases. The API, the worker and the CLI call these and nothing below them."""
