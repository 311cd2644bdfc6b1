"""Persistence: engine and session factory, tables, migrations."""
