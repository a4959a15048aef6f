"""Shared kernel: errors, secret handling, time. Imports nothing from the other layers."""
