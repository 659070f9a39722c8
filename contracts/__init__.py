"""Contract suites and fuzzers, usable against any base URL (see issue: contract harness)."""
