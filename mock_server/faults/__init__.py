"""Bad days on purpose: fault rules and their registry, the journal of requests, scenario files,
scenario behaviours of jobs and files, the ASGI middleware that applies faults, their routes
and CLI."""
