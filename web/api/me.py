"""Who am I, and which pathways can be started."""
from __future__ import annotations

from fastapi import APIRouter, Request

from web.deps import ApiCaller
from web.outputs import MeOut, PathwayInfo
from web.templating import translator
from web.views import pathway_infos

router = APIRouter(tags=["me"])


@router.get("/me", response_model=MeOut)
def me(caller: ApiCaller) -> MeOut:
    """The signed-in user, their role and scope, and how they authenticated."""
    u = caller.user
    return MeOut(username=u.username, display_name=u.display_name, role=u.role, jurisdiction_code=u.jurisdiction_code,
                 unit_code=u.unit_code, auth=caller.via)


@router.get("/pathways", response_model=list[PathwayInfo])
def pathways(request: Request, caller: ApiCaller) -> list[PathwayInfo]:
    """Every pathway of the policy with its start parameters; ``available`` when a flow serves it."""
    return pathway_infos(translator(request))
