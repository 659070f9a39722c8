"""The dataset checks: Together's ``check_file`` rules (``rules``), the streaming checker that
applies them to a file (``check``), its UTF-8 line reader (``reader``) and its result
(``report``)."""
