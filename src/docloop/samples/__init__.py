"""Small bundled datasets for the demo and the tests."""

from pathlib import Path

PLATES = Path(__file__).parent / "plates"
