"""Textual adapters: the bench app and the supervisor terminal board."""
