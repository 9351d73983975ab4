"""Benchmark harness comparing django_signalr with peer realtime servers.

Run it with ``bench/run`` (see bench/README.md). Everything in this package is
benchmark-only code; nothing here is imported by the library itself.
"""
