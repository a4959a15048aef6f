"""Instrumentation for a `remediate` subprocess, loaded through PYTHONPATH (see sitecustomize)."""
