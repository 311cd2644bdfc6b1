"""docloop's own JSON API (``/api/v1``), used by the web UI and new clients."""
