"""careflow's web app: server-rendered pages (Jinja2 on FastAPI) and a JSON API under ``/api``.

Caseworkers register children, record reports and start pathways; agency officers answer their unit's
tasks; managers watch their jurisdiction; an admin manages users and agency units (DOMAIN.md §1, §5, §8).
Pages are in ``templates/pages/``, static files in ``web/static/``; start it with ``careflow web serve``
(``careflow up`` starts it with the rest). :func:`web.app.create_app` builds the application.
"""
