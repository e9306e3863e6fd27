"""Blue links: ``POST /v1/comments/render`` turns comment text into segments, product URLs of
allowlisted partners becoming short links (surface ``blue_link``), diversions flagged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from seedcart.catalog.keys import Principal
from seedcart.catalog.products import get_note
from seedcart.links.blue import flags, render_comment
from seedcart.links.cache import CachedLink
from seedcart.links.create import create_blue_link, short_url
from seedcart.links.partners import PartnerRef
from seedcart.serve.auth import require
from seedcart.serve.state import AppState, app_state, short_link_base

router = APIRouter(prefix="/v1/comments", tags=["comments"])


class CommentIn(BaseModel):
    """A comment to render."""

    text: str = Field(description="The comment as written.", max_length=5000)
    note_id: str = Field(description="The note the comment is on.")
    commenter_id: str | None = Field(default=None, description="The platform user who wrote it.")
    comment_id: str | None = Field(default=None, description="The platform's comment id.")


@router.post("/render", summary="Comment text -> segments with blue links")
def render(body: CommentIn, principal: Annotated[Principal, Depends(require("admin", "source"))],
           state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """Each allowlisted product URL becomes a blue link; other URLs and diversions stay text, flagged."""
    public_url = short_link_base(state)
    made: list[CachedLink] = []
    with state.catalog.session() as session:
        get_note(session, body.note_id)

        def mint(ref: PartnerRef) -> dict[str, Any]:
            with session.begin_nested():
                link, entry = create_blue_link(session, ref, note_id=body.note_id, commenter_id=body.commenter_id,
                                               comment_id=body.comment_id)
            made.append(entry)
            return {"code": link.code, "short_url": short_url(public_url, link.code), "partner": ref.partner,
                    "item_id": ref.item_id, "link_id": link.id}

        segments = render_comment(body.text, mint)
    service = state.services.get("links")
    if service is not None:
        for entry in made:
            service.cache.put(entry)
    return {"segments": segments, "links": len(made), "flags": flags(segments)}
