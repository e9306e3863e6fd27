"""The vocabularies of the seeding-to-purchase loop (DESIGN §1) as ``Literal`` types.

Each vocabulary comes twice: a ``Literal`` for type checking and a tuple of its values for
validation at the edges (``FRONT_KINDS``, ``BACK_ACTIONS``, ...). Keep the two in step; a test
checks that they agree.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Partner = Literal["tmall", "taobao", "jd", "pdd", "vip", "wechat_mp"]
PARTNERS: Final[tuple[Partner, ...]] = get_args(Partner)

FrontKind = Literal[
    "impression", "read", "deep_read", "like", "comment", "collect", "share", "follow",
    "link_click", "search",
]
FRONT_KINDS: Final[tuple[FrontKind, ...]] = get_args(FrontKind)

BackAction = Literal["visit", "search", "favorite", "cart", "order", "refund"]
BACK_ACTIONS: Final[tuple[BackAction, ...]] = get_args(BackAction)

TouchClass = Literal["click", "engagement", "view"]
TOUCH_CLASSES: Final[tuple[TouchClass, ...]] = get_args(TouchClass)

#: Which class each front kind belongs to for lookbacks and precedence (DESIGN §5).
#: ``search`` (in-platform) is not a touch on a note and has no class.
TOUCH_CLASS_OF: Final[dict[str, TouchClass]] = {
    "link_click": "click",
    "like": "engagement",
    "comment": "engagement",
    "collect": "engagement",
    "share": "engagement",
    "follow": "engagement",
    "deep_read": "engagement",
    "impression": "view",
    "read": "view",
}

CampaignMode = Literal["UD", "CID"]
CAMPAIGN_MODES: Final[tuple[CampaignMode, ...]] = get_args(CampaignMode)

Placement = Literal["search", "feed", "video"]
PLACEMENTS: Final[tuple[Placement, ...]] = get_args(Placement)

LinkKind = Literal["ad_link", "blue_link"]
LINK_KINDS: Final[tuple[LinkKind, ...]] = get_args(LinkKind)

BidType = Literal["CPM", "CPC"]
BID_TYPES: Final[tuple[BidType, ...]] = get_args(BidType)

NoteFormat = Literal["image", "video"]
NOTE_FORMATS: Final[tuple[NoteFormat, ...]] = get_args(NoteFormat)

Role = Literal["admin", "source", "brand", "partner"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

Engine = Literal["duckdb", "spark"]
ENGINES: Final[tuple[Engine, ...]] = get_args(Engine)

Model = Literal[
    "last_touch", "first_touch", "linear", "position_based", "time_decay", "markov", "shapley",
]
MODELS: Final[tuple[Model, ...]] = get_args(Model)

Category = Literal[
    "beauty", "sports_outdoor", "fashion", "food", "mother_baby", "home", "digital", "health",
]
CATEGORIES: Final[tuple[Category, ...]] = get_args(Category)

Device = Literal["ios", "android", "web"]
DEVICES: Final[tuple[Device, ...]] = get_args(Device)

#: Lake tables written by intake and the simulator, and derived by later stages.
Table = Literal["touch", "backflow", "identity", "quarantine", "credit", "truth", "rollup_note_day"]
TABLES: Final[tuple[Table, ...]] = get_args(Table)
