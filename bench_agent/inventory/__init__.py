"""Hardware inventory: probes of the live machine, evidence bundles, parsers, disk health, checks and profiles."""
