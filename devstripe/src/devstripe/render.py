"""Turn stored objects into Stripe JSON: nested lists, `expand[]`, pagination."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from devstripe.errors import StripeError, invalid, no_such
from devstripe.forms import Params, get_int, get_list

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]


def list_object(data: list[Obj], url: str, has_more: bool = False) -> Obj:
    """A Stripe list envelope."""
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "total_count": len(data),
        "url": url,
    }


def _public(obj: Obj) -> Obj:
    # Keys starting with "_" are the emulator's bookkeeping, never sent.
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def render(st: Store, obj: Obj) -> Obj:
    """Return the JSON-ready form of a stored object, with ids for expandable references."""
    out = _public(obj)
    kind = obj["object"]
    if kind == "subscription":
        items = [render(st, st.objects[i]) for i in obj["_items"]]
        out["items"] = list_object(items, f"/v1/subscription_items?subscription={obj['id']}")
    elif kind == "subscription_item":
        out["price"] = render(st, st.objects[obj["price"]])
    elif kind == "invoice":
        out["lines"] = list_object(copy.deepcopy(obj["_lines"]), f"/v1/invoices/{obj['id']}/lines")
        out["payments"] = list_object(
            copy.deepcopy(obj["_payments"]), f"/v1/invoice_payments?invoice={obj['id']}"
        )
    elif kind == "charge":
        refunds = [render(st, st.objects[i]) for i in obj["_refunds"]]
        out["refunds"] = list_object(refunds, f"/v1/charges/{obj['id']}/refunds")
    elif kind == "promotion_code":
        # Older API versions had the coupon inline; newer ones under `promotion`.
        out["coupon"] = render(st, st.objects[obj["promotion"]["coupon"]])
    return out


def session_line_items(st: Store, session: Obj) -> Obj:
    """The `line_items` list of a checkout session (only sent when expanded)."""
    data = []
    for li in session["_line_items"]:
        item = dict(li)
        item["price"] = render(st, st.objects[li["price"]])
        data.append(item)
    return list_object(data, f"/v1/checkout/sessions/{session['id']}/line_items")


def _expand_path(st: Store, node: Obj, path: list[str]) -> None:
    key, rest = path[0], path[1:]
    if key not in node:
        if key == "line_items" and node.get("object") == "checkout.session":
            node[key] = session_line_items(st, st.objects[node["id"]])
        else:
            return
    val = node[key]
    if isinstance(val, str) and key != "id" and val in st.objects:
        val = render(st, st.objects[val])
        node[key] = val
    if not rest:
        return
    if isinstance(val, dict):
        _expand_path(st, val, rest)
    elif isinstance(val, list):
        for el in val:
            if isinstance(el, dict):
                _expand_path(st, el, rest)


def expand(st: Store, out: Obj, paths: list[str]) -> Obj:
    """Replace ids with objects along each dotted path (`items.data.price.product`)."""
    for path in paths:
        if not isinstance(path, str) or not path:
            raise invalid("expand", "Invalid expand path")
        if len(path.split(".")) > 4:
            raise invalid("expand", f"You cannot expand more than 4 levels of a property: {path}")
        _expand_path(st, out, path.split("."))
    return out


def expand_paths(params: Params) -> list[str]:
    """The `expand[]` parameter as a list of dotted paths."""
    return [str(p) for p in get_list(params, "expand")]


def render_one(st: Store, obj: Obj, params: Params) -> Obj:
    """Render with the request's `expand[]` applied."""
    return expand(st, render(st, obj), expand_paths(params))


def match_created(value: int, flt: Any, param: str = "created") -> bool:
    """Stripe's range filter: an int, or a hash of gt/gte/lt/lte."""
    if flt is None or flt == "":
        return True
    if isinstance(flt, str):
        try:
            return value == int(flt)
        except ValueError:
            raise invalid(param, f"Invalid integer: {flt}") from None
    if not isinstance(flt, dict):
        raise invalid(param, "Invalid range filter")
    ops = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
    for op, raw in flt.items():
        if op not in ops:
            raise invalid(f"{param}[{op}]", f"Received unknown parameter: {param}[{op}]")
        try:
            if not ops[op](int(raw)):
                return False
        except ValueError:
            raise invalid(f"{param}[{op}]", f"Invalid integer: {raw}") from None
    return True


def list_response(st: Store, objs: list[Obj], params: Params, url: str) -> Obj:
    """Paginate objects newest first (by creation order) into a Stripe list."""
    objs = [o for o in objs if match_created(int(o.get("created", 0)), params.get("created"))]
    objs.sort(key=lambda o: st.seq(o["id"]), reverse=True)
    limit = get_int(params, "limit", 10) or 10
    if not 1 <= limit <= 100:
        raise invalid("limit", "Invalid limit: must be between 1 and 100")
    ids = [o["id"] for o in objs]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise StripeError(
            "You may only specify one of these parameters: starting_after, ending_before."
        )
    if after:
        if after not in ids:
            raise no_such("object", str(after), "starting_after")
        rest = objs[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise no_such("object", str(before), "ending_before")
        head = objs[: ids.index(before)]
        page, has_more = head[-limit:], len(head) > limit
    else:
        page, has_more = objs[:limit], len(objs) > limit
    out = list_object([render(st, o) for o in page], url, has_more)
    out["total_count"] = len(objs)
    return expand(st, out, expand_paths(params))


def money(amount: int, currency: str) -> str:
    """Human amount for pages and invoice line descriptions ($5.00)."""
    symbols = {"usd": "$", "eur": "€", "gbp": "£"}
    value = f"{amount / 100:,.2f}"
    sym = symbols.get(currency.lower())
    return f"{sym}{value}" if sym else f"{value} {currency.upper()}"
