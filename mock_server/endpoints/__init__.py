"""Dedicated endpoints: hardware, the start and stop walk, chat on a started endpoint."""
