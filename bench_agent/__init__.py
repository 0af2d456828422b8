"""Bench Agent: refurbish donated PCs — inventory, grading, verified wipe, imaging, ledger."""

__version__ = "0.1.0"
