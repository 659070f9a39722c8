"""The key's project and organization, and the project-scoped endpoints with their deployments."""
