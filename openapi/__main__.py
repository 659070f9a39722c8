"""``python -m openapi check``: locate Together's OpenAPI spec and compare it with the pin."""

from openapi.spec import main

if __name__ == "__main__":
    raise SystemExit(main())
