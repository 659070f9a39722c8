"""Real training on the server's side: the runner that starts a worker process per job and
the chat worker that serves a trained adapter. Nothing here imports torch; the workers do
(``mock_server.training``)."""
