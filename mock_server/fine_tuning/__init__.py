"""Fine-tuning jobs: the record and its state machine, the plan a job walks, its events,
checkpoints and metrics, the create request and its checks, the views clients read, the kept
bodies of polled jobs, downloads, and the service and routes."""
