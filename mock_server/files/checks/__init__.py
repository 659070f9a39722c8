"""The dataset checks: Together's ``check_file`` rules (``rules``), the streaming checker that
applies them to a file (``check``, with ``scans`` for the content of each file type and ``jsonl``
for the lines of a JSONL file), its line readers (``reader``), the fast path that vouches for the
usual lines in bulk (``shapes``, and ``bulk_tokens`` for their token count) and its result
(``report``)."""
