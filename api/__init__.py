"""HTTP API over the engine (FastAPI); imports coverage, never the reverse.

``api.app.create_app(settings)`` builds the application (nothing is loaded at
import); ``coverage serve`` starts it with uvicorn. See docs/api.md.
"""
