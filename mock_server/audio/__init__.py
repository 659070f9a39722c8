"""Speech, transcriptions and translations."""
