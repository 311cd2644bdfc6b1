"""The Nanonets v2 API: translates requests and responses, all work happens in services."""
