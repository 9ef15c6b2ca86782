"""The prediction API (FastAPI): loads the served version, validates requests with its contract, stores every prediction."""
