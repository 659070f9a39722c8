"""The package's shape as tests: import contracts (run by ``make lint``) and their own tests."""
