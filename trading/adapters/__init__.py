"""Adapters to outside systems, each behind a small interface with a local sandbox."""
