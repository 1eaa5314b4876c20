"""SQL of each job type and resource, shared by the API and the workers."""
