"""The console: what every command-line program of the bench prints and how it runs a command.

One place for the JSON and table output, the typed confirmation before anything is destroyed,
the one console progress renderer (wipe, image, check, station, ``run``'s headless mode), and
the runner around a command (language first, one-line errors, exit codes). Shared by
``bench-agent`` (bench_agent.cli), ``bench-ledger`` (bench_agent.ledger) and the workflow's
headless mode, so it sits below all of them and imports none of them.
"""
