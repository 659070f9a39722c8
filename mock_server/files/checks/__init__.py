"""The dataset checks: Together's ``check_file`` rules (``rules``) and the streaming checker
that applies them to a file (``check``)."""
