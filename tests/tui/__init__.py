"""Tests of the TUI: services alone (test_services_*), screens with Pilot (test_app_*)."""
