"""The time-driven billing engine: runs every boundary crossed when a clock moves forward."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import billing, subscriptions
from devstripe.clock import DAY, HOUR, next_period_end
from devstripe.errors import invalid

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]
MAX_STEPS = 10_000  # guards against a bug looping forever; real runs need far fewer
INCOMPLETE_WINDOW = 23 * HOUR


def _next_action(st: Store, sub: Obj) -> tuple[int, int, str] | None:
    status = sub["status"]
    if status in ("canceled", "incomplete_expired", "paused"):
        return None
    if status == "incomplete":
        return (int(sub["created"]) + INCOMPLETE_WINDOW, 0, "expire")
    cands: list[tuple[int, int, str]] = []
    if sub["cancel_at"]:
        cands.append((int(sub["cancel_at"]), 0, "cancel"))
    if status == "trialing":
        if not sub.get("_twe_sent"):
            cands.append(
                (max(int(sub["trial_start"]), int(sub["trial_end"]) - 3 * DAY), 1, "trial_will_end")
            )
        cands.append((int(sub["trial_end"]), 2, "trial_end"))
    else:
        pc = sub["pause_collection"]
        if pc and pc.get("resumes_at"):
            cands.append((int(pc["resumes_at"]), 1, "unpause"))
        for inv in st.all("invoice"):
            if (
                inv["subscription"] == sub["id"]
                and inv["status"] == "open"
                and inv["next_payment_attempt"]
                and status != "unpaid"
            ):
                cands.append((int(inv["next_payment_attempt"]), 2, "retry:" + inv["id"]))
        cands.append((subscriptions.period_end(st, sub), 3, "renew"))
    return min(cands)


def _perform(st: Store, sub: Obj, action: str, at: int) -> None:
    if action == "trial_will_end":
        sub["_twe_sent"] = True
        st.emit("customer.subscription.trial_will_end", sub)
        return
    with st.tracking(sub, "customer.subscription.updated") as tr:
        if action == "expire":
            inv = st.get(sub["latest_invoice"] or "", "invoice")
            if inv is not None and inv["status"] == "open":
                billing.set_invoice_status(st, inv, "void")
            billing.end_subscription(st, sub, tr, at=at, status="incomplete_expired", reason=None)
        elif action == "cancel":
            reason = sub["cancellation_details"]["reason"] or "cancellation_requested"
            billing.end_subscription(st, sub, tr, at=at, status="canceled", reason=reason)
        elif action == "trial_end":
            subscriptions.end_trial(st, sub, tr, at, "subscription_cycle")
        elif action == "unpause":
            sub["pause_collection"] = None
        elif action.startswith("retry:"):
            inv = st.objects[action[6:]]
            outcome = billing.attempt_payment(st, inv, on_session=False)
            billing.after_payment(st, sub, inv, outcome, tr)
        elif action == "renew":
            first = st.objects[sub["_items"][0]]
            rec = st.objects[first["price"]]["recurring"]
            old_start = int(first["current_period_start"])
            # Stripe moves the period forward when it creates the renewal invoice.
            end = next_period_end(
                int(sub["billing_cycle_anchor"]), at, rec["interval"], rec["interval_count"]
            )
            for item_id in sub["_items"]:
                st.objects[item_id].update({"current_period_start": at, "current_period_end": end})
            billing.charge_cycle(
                st, sub, tr, reason="subscription_cycle", start=at, end=end, period=(old_start, at)
            )


def run_until(st: Store, clock: str | None, target: int) -> int:
    """Process, in time order, everything due on `clock` up to `target`; return steps taken."""
    steps = 0
    with st.lock:
        while steps < MAX_STEPS:
            best: tuple[int, int, int] | None = None
            chosen: tuple[Obj, str] | None = None
            for sub in st.all("subscription"):
                if sub["_clock"] != clock:
                    continue
                act = _next_action(st, sub)
                if act is None or act[0] > target:
                    continue
                key = (act[0], act[1], st.seq(sub["id"]))
                if best is None or key < best:
                    best, chosen = key, (sub, act[2])
            for sess in st.all("checkout.session"):
                if (
                    sess["_clock"] == clock
                    and sess["status"] == "open"
                    and sess["expires_at"] <= target
                ):
                    key = (int(sess["expires_at"]), -1, st.seq(sess["id"]))
                    if best is None or key < best:
                        best, chosen = key, (sess, "session_expire")
            if best is None or chosen is None:
                break
            st.set_time(clock, best[0])
            obj, action = chosen
            if action == "session_expire":
                expire_session(st, obj)
            else:
                _perform(st, obj, action, best[0])
            steps += 1
        st.set_time(clock, target)
    return steps


def expire_session(st: Store, sess: Obj) -> None:
    """Mark a checkout session expired and announce it."""
    sess.update({"status": "expired", "url": None})
    st.emit("checkout.session.expired", sess)


def tick(st: Store) -> None:
    """Catch the global clock up with wall time (called on every request)."""
    run_until(st, None, st.now())


def advance_global(st: Store, seconds: int) -> int:
    """Move the global emulator clock forward, running the billing engine."""
    if seconds < 0:
        raise invalid("seconds", "The clock can only move forward.")
    return run_until(st, None, st.now() + seconds)


def advance_test_clock(st: Store, tc: Obj, frozen_time: int) -> None:
    """`POST /v1/test_helpers/test_clocks/{id}/advance`, completed synchronously."""
    if frozen_time <= int(tc["frozen_time"]):
        raise invalid(
            "frozen_time", "The frozen_time must be after the test clock's current frozen_time."
        )
    with st.lock:
        tc["status"] = "advancing"
        tc["status_details"] = {"advancing": {"target_frozen_time": frozen_time}}
        st.emit("test_helpers.test_clock.advancing", tc)
        run_until(st, tc["id"], frozen_time)
        tc["status"] = "ready"
        tc["status_details"] = {}
        st.emit("test_helpers.test_clock.ready", tc)
