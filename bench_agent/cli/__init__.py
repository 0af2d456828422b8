"""Console entry points (bench-agent)."""
