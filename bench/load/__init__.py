"""Client-side load loops; they run inside worker processes (``bench.worker``), never in the orchestrator."""
