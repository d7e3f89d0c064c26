"""Everything that arrives over HTTP: one FastAPI app (app.py) with the intake API for the one-stop
software, its guards (guards.py: keys, pacing, body size) and one error shape (errors.py), served by
uvicorn on the running event loop (server.py). Nothing below bot/ imports FastAPI."""
