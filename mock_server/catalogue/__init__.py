"""What the service offers, as data: fine-tuning models and their limits, serverless models,
hardware. ``GET /v1/models`` lists them with the tenant's own models (``families/model_list.py``).
"""
