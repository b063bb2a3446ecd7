"""The JSON API under ``/api`` (OpenAPI document at ``/api/openapi.json``), with the pages' permission rules.

Authentication: ``Authorization: Bearer <token>`` (create one on ``/account``) or the browser's session cookie
(then POST/PATCH also need ``X-CSRF-Token``). Objects outside the caller's jurisdiction or unit answer 404,
a role that may not use an endpoint 403, input that does not validate 422.
"""
from fastapi import APIRouter

from web.api import admin, cases, child_facts, children, dashboard, me, needs, programmes, tasks

router = APIRouter(prefix="/api")
for module in (me, children, child_facts, needs, cases, tasks, dashboard, programmes, admin):
    router.include_router(module.router)
