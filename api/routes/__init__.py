"""The API's routers, one module per concern; each parses, calls the engine, serialises."""
