"""Widgets: small renderers fed by the app (log lines, run grid cells, per-rank plots)."""
