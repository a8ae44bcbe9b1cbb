"""Jobs: one module per command, the orchestration the CLI and the API share."""
