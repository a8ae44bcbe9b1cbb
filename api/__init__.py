"""HTTP API over the engine (FastAPI); imports coverage, never the reverse."""
