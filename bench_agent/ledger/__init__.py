"""The central ledger server (FastAPI), its store, dashboard and reports."""
