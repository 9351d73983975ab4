"""ASGI applications for the peer targets; each module is loaded by its own uvicorn process."""
