"""A page of the app opened at an address, as a copied link opens it in a new browser."""

from streamlit.testing.v1 import AppTest


def opened_at(page: str, query: dict[str, str], timeout: float = 300) -> AppTest:
    """A new session of ``page`` (its script's path) run with ``query`` as its address's query;
    asserts that it ran without an exception."""
    at = AppTest.from_file(page, default_timeout=timeout)
    at.query_params = dict(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
