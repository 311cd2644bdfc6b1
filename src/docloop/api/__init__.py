"""HTTP: the native API, the Nanonets v2 adapter, and what they share."""
