"""Orchestrator side of each scenario: spawn workers against a running server, collect figures."""
