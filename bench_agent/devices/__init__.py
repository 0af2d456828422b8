"""Block devices: the device guard every destructive path calls, and exclusive direct-I/O access."""
