"""FastAPI dependencies: the lifespan's wiring, and pieces of it, per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.wiring import Wiring


async def get_wiring(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring


WiringDep = Annotated[Wiring, Depends(get_wiring)]
