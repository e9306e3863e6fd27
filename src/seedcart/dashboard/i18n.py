"""The dashboard's words in English and Chinese, and how a request picks its language.

Order of choice: ``?lang=zh|en``, then the ``seedcart_lang`` cookie, then ``Accept-Language``, then English.
"""

from __future__ import annotations

from typing import Final, Literal

from starlette.requests import Request

Lang = Literal["en", "zh"]
LANGS: Final[tuple[Lang, ...]] = ("en", "zh")
LANG_COOKIE = "seedcart_lang"

TEXT: Final[dict[str, dict[Lang, str]]] = {
    "app": {"en": "seedcart", "zh": "seedcart 种草闭环"},
    "tagline": {"en": "From seeding notes to partner-shop orders", "zh": "从种草笔记到合作电商成交"},
    "overview": {"en": "Overview", "zh": "总览"},
    "notes": {"en": "Notes", "zh": "笔记"},
    "breakdowns": {"en": "Breakdowns", "zh": "分维度"},
    "models": {"en": "Models", "zh": "归因模型"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "key": {"en": "API key", "zh": "API 密钥"},
    "key_hint": {"en": "Paste a brand, partner or admin key", "zh": "请输入品牌、合作方或管理员密钥"},
    "bad_key": {"en": "That key was not accepted.", "zh": "密钥无效。"},
    "today": {"en": "Today (UTC), live", "zh": "今日实时（UTC）"},
    "live_note": {"en": "Read straight from today's lake partitions; refreshes every 2 s.",
                  "zh": "直接读取今日数据分区，每 2 秒刷新。"},
    "period": {"en": "Selected period", "zh": "所选周期"},
    "daily_trend": {"en": "Daily trend", "zh": "每日趋势"},
    "top_notes": {"en": "Top notes by GMV", "zh": "GMV 领先笔记"},
    "impressions": {"en": "Exposures", "zh": "曝光"},
    "reads": {"en": "Reads", "zh": "阅读"},
    "deep_reads": {"en": "Deep reads", "zh": "深度阅读"},
    "likes": {"en": "Likes", "zh": "点赞"},
    "comments": {"en": "Comments", "zh": "评论"},
    "collects": {"en": "Collects", "zh": "收藏"},
    "shares": {"en": "Shares", "zh": "分享"},
    "link_clicks": {"en": "Link clicks", "zh": "链接点击"},
    "unique_readers": {"en": "Unique readers", "zh": "独立阅读人数"},
    "true_interest_readers": {"en": "True-interest readers", "zh": "真实兴趣人群"},
    "visits": {"en": "Visits", "zh": "进店"},
    "searches": {"en": "Searches", "zh": "搜索"},
    "favorites": {"en": "Favorites", "zh": "收藏商品"},
    "carts": {"en": "Carts", "zh": "加购"},
    "orders": {"en": "Orders", "zh": "成交"},
    "refunds": {"en": "Refunds", "zh": "退款"},
    "gmv": {"en": "GMV", "zh": "GMV"},
    "spend": {"en": "Spend", "zh": "花费"},
    "roi": {"en": "ROI", "zh": "ROI"},
    "ctr": {"en": "CTR", "zh": "点击率"},
    "interaction_rate": {"en": "Interaction rate", "zh": "互动率"},
    "link_ctr": {"en": "Link CTR", "zh": "链接点击率"},
    "visit_rate": {"en": "Visit rate", "zh": "进店率"},
    "cart_rate": {"en": "Cart rate", "zh": "加购率"},
    "conversion_rate": {"en": "Conversion", "zh": "转化率"},
    "cost_per_visit": {"en": "Cost / visit", "zh": "进店成本"},
    "cost_per_order": {"en": "Cost / order", "zh": "成交成本"},
    "seeding_value": {"en": "Seeding value", "zh": "种草值"},
    "seeding_value_per_1k_reads": {"en": "Seeding value / 1k reads", "zh": "千次阅读种草值"},
    "note": {"en": "Note", "zh": "笔记"},
    "funnel": {"en": "Front → back funnel", "zh": "前链路 → 后链路漏斗"},
    "lag_histogram": {"en": "Lag from touch to action (days)", "zh": "触达到行为的滞后（天）"},
    "roi_tx": {"en": "ROI(T+x)", "zh": "ROI(T+x)"},
    "top_paths": {"en": "Top paths", "zh": "主要路径"},
    "path": {"en": "Path", "zh": "路径"},
    "events": {"en": "Events", "zh": "事件数"},
    "start": {"en": "From", "zh": "开始"},
    "end": {"en": "To", "zh": "结束"},
    "model": {"en": "Model", "zh": "模型"},
    "lookback": {"en": "Lookback x (days)", "zh": "回溯期 x（天）"},
    "placement": {"en": "Placement", "zh": "广告位"},
    "mode": {"en": "Mode", "zh": "投放模式"},
    "campaign": {"en": "Campaign", "zh": "计划"},
    "partner": {"en": "Partner", "zh": "合作方"},
    "day": {"en": "Day", "zh": "日期"},
    "all": {"en": "All", "zh": "全部"},
    "apply": {"en": "Apply", "zh": "应用"},
    "prev": {"en": "Previous", "zh": "上一页"},
    "next": {"en": "Next", "zh": "下一页"},
    "export_csv": {"en": "Export CSV", "zh": "导出 CSV"},
    "export_parquet": {"en": "Export Parquet", "zh": "导出 Parquet"},
    "loading": {"en": "Loading…", "zh": "加载中…"},
    "no_data": {"en": "No data for these filters.", "zh": "当前筛选条件下暂无数据。"},
    "withheld": {"en": "withheld (fewer than k users)", "zh": "已隐藏（用户数少于 k）"},
    "rows_of": {"en": "rows", "zh": "行"},
    "signed_in_as": {"en": "Signed in as", "zh": "当前身份"},
    "interval_note": {"en": "Credited counts under the chosen model; ± is the 95 % sampling interval.",
                      "zh": "按所选模型归因的计数；± 为 95% 抽样区间。"},
    "back_to_notes": {"en": "← All notes", "zh": "← 全部笔记"},
    "gmv_by_note_model": {"en": "GMV of the top notes under each model", "zh": "各模型下头部笔记的 GMV"},
    "api_docs": {"en": "API docs", "zh": "API 文档"},
}


def strings(lang: Lang) -> dict[str, str]:
    """Every word in ``lang``."""
    return {key: words[lang] for key, words in TEXT.items()}


def pick_lang(request: Request) -> Lang:
    """The language this request asks for."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"
