"""The browser app: server-rendered pages with small JS modules over the native API."""
