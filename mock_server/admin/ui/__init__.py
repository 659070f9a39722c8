"""The dashboard at ``/_sim/ui``: a read-only view of every tenant's files and jobs, the fault
rules in force and the request journal, updated live.

``views`` gathers what the page shows from the services, ``stream`` sends it as server-sent events
when it changes, and ``static/`` holds the page itself (HTML, one JS file, CSS: no framework, no
build step, nothing fetched from another host). ``screenshot`` draws ``docs/dashboard.png``.
"""
