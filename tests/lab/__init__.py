"""The lab: several "laptops" on this one machine (network + mount namespaces, each with its own sshd and
Docker engine) for end-to-end tests, benchmarks and demos. `python -m tests.lab --help`."""

from .config import LabConfig, Laptop
from .lab import Lab, down, session, status, up

__all__ = ["Lab", "LabConfig", "Laptop", "down", "session", "status", "up"]
