"""The per-machine workflow: state machine and journal, shared by the TUI and the headless run."""
