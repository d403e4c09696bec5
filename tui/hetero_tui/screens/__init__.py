"""Screens: each renders one view and routes keys; no playbook or SSH work happens here."""
