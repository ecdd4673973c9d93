"""The routes, one module per resource; each ``routes(ctx)`` returns its Starlette routes."""
