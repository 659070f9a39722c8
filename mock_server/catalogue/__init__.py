"""What the service offers, as data: fine-tuning models and their limits, serverless models,
hardware; plus the ``/models`` routes."""
