"""Disk sanitization to NIST SP 800-88: method plan, overwrite and firmware engines, verification, certificates."""
