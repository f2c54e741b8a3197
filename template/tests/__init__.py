"""The project's tests (a package, so that they share tests/api_requests.py)."""
