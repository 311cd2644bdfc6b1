"""Ready pipeline tasks on the SDK for the schedulers people already run (Luigi, Airflow)."""
