"""pytester, for the tests that run a user's suite against the together_sim plugin (it has to be
named here: pytest takes ``pytest_plugins`` only from the top-level conftest)."""

pytest_plugins = ["pytester"]
