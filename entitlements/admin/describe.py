"""The explain view in plain words: "comments until 2024-06-30 as a past commenter; ...". Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time

from ..services.explain import Explanation, FeatureExplanation, RestrictionFact, SourceFact

# How a held feature reads in a sentence, and how its absence does.
HELD = {
    "comment": "comments",
    "ad_free": "no ads",
    "digital_edition": "the digital edition",
    "archive": "the archive",
}
NOT_HELD = {
    "comment": "cannot comment",
    "ad_free": "sees ads",
    "digital_edition": "no digital edition",
    "archive": "no archive",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE_WORDS = {
    "active": "in force",
    "scheduled": "starts later",
    "ended": "ended",
    "revoked": "revoked",
    "lifted": "lifted",
    "not_entitling": "does not entitle",
}


def when(value: datetime | None) -> str:
    """Format a time: the date alone at midnight UTC, else date and time."""
    if value is None:
        return "no end"
    value = value.astimezone(UTC)
    if value.time() == time(0, 0):
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def source_name(source: SourceFact, plans: Mapping[str, str]) -> str:
    """Return how a source gives a feature: "as a past commenter", "through Plus annual"."""
    if source.kind == "subscription":
        return f"through {plans.get(source.ref, 'a subscription outside the catalog')}"
    if source.kind == "grandfather":
        return "as a past commenter"
    if source.kind == "comp":
        return "as a complimentary grant"
    return f"through a {source.kind} grant"


def _until(end: datetime | None) -> str:
    return f"until {when(end)}" if end is not None else "indefinitely"


def held_reason(feature: FeatureExplanation, plans: Mapping[str, str]) -> str:
    """Return e.g. "until 2024-06-30 as a past commenter" for a held feature's sources."""
    active = [s for s in feature.sources if s.active]
    # The source that keeps the feature longest comes first: it is what matters most.
    active.sort(key=lambda s: (s.ends_at is None, s.ends_at or _EPOCH), reverse=True)
    return " and ".join(f"{_until(s.ends_at)} {source_name(s, plans)}" for s in active)


def held_phrase(feature: FeatureExplanation, plans: Mapping[str, str]) -> str:
    """Return e.g. "comments until 2024-06-30 as a past commenter" for a held feature."""
    return f"{HELD.get(feature.feature, feature.feature)} {held_reason(feature, plans)}"


def ban_phrase(ban: RestrictionFact) -> str:
    """Return e.g. "banned until 2026-02-01 (reason: spam)", or "banned permanently (...)"."""
    span = f"until {when(ban.ends_at)}" if ban.ends_at is not None else "permanently"
    return f"banned {span} (reason: {ban.reason})"


def why_not(feature: FeatureExplanation, plans: Mapping[str, str]) -> str:
    """Return why a feature is not held: the ban in force, or the lack of any source."""
    bans = [r for r in feature.restrictions if r.active]
    active = [s for s in feature.sources if s.active]
    if bans:
        reason = "; ".join(ban_phrase(b) for b in bans)
        if active:
            names = " and ".join(sorted({source_name(s, plans) for s in active}))
            return f"{reason} (it would otherwise have it {names})"
        return reason
    later = [s for s in feature.sources if s.state == "scheduled"]
    if later:
        first = min(later, key=lambda s: s.starts_at or _EPOCH)
        return f"starts {when(first.starts_at)} {source_name(first, plans)}"
    if feature.sources:
        return "every subscription or grant for it has ended"
    return "no subscription or grant gives it"


@dataclass(frozen=True)
class FeatureLine:
    """One row of the features table: the feature, held or not, and why in words."""

    feature: str
    held: bool
    withheld: bool
    why: str
    sources: tuple[tuple[SourceFact, str, str], ...]  # the fact, its name, its state in words
    restrictions: tuple[tuple[RestrictionFact, str], ...]


def feature_lines(explanation: Explanation, plans: Mapping[str, str]) -> list[FeatureLine]:
    """Return every catalog feature with its plain-words reason."""
    lines = []
    for feature in explanation.features:
        why = held_reason(feature, plans) if feature.held else why_not(feature, plans)
        lines.append(
            FeatureLine(
                feature=feature.feature,
                held=feature.held,
                withheld=any(r.active for r in feature.restrictions),
                why=why,
                sources=tuple(
                    (s, source_name(s, plans), STATE_WORDS.get(s.state, s.state))
                    for s in feature.sources
                ),
                restrictions=tuple(
                    (r, STATE_WORDS.get(r.state, r.state)) for r in feature.restrictions
                ),
            )
        )
    return lines


def summary(explanation: Explanation, plans: Mapping[str, str]) -> str:
    """Return the account in one sentence, e.g. "comments until ...; no ads until ..."."""
    held = [held_phrase(f, plans) for f in explanation.features if f.held]
    text = "; ".join(held) if held else "no paid features: free articles only"
    bans = [
        f"{NOT_HELD.get(f.feature, f.feature)}: {ban_phrase(r)}"
        for f in explanation.features
        for r in f.restrictions
        if r.active
    ]
    sentences = [text, *bans]
    return " ".join(f"{line[0].upper()}{line[1:]}." for line in sentences)
