"""Adapters between the core and this computer: processes, loop devices, environment, files.

They sit above the core (they drive the workflow) and below the command line and the bench
app; the core never imports them.
"""
