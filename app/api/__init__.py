"""The HTTP shell: routers, request/response schemas, errors and auth."""
