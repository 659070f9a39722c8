"""What every other package may use and which imports nothing else of ours: errors in
Together's shape, the clock, ids, time formats, tenancy and keys, the lifecycle engine, the
stand-in tokenizer."""
