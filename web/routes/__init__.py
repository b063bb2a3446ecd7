"""Server-rendered pages, one module per resource; every form posts with a CSRF token (``web.deps.csrf_protect``)."""
