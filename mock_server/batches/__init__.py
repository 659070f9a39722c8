"""The batch API: input file checks, the batch's walk and its real output and error files."""
