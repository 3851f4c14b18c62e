"""Placeholder writing for the demo: one made-up article, the archive and this month's edition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    """A story on the site."""

    slug: str
    title: str
    dek: str
    byline: str
    paragraphs: tuple[str, ...]


ARTICLE = Article(
    slug="permit-maze",
    title="The Permit Maze",
    dek="A nine-year-old's lemonade stand, three city departments and one very patient "
    "zoning variance. (Placeholder text written for this demo.)",
    byline="By Jordan Example · Illustration by Nobody In Particular",
    paragraphs=(
        "Maya Ortiz set up her lemonade stand on a Saturday in June. By Tuesday she had "
        "received a notice from the city's licensing office, a pamphlet from the health "
        "department and a letter explaining that her corner lay in a district where "
        "\"temporary retail structures\" need a conditional use permit.",
        "None of the three offices had done anything wrong. Each applied a rule written for "
        "a different problem: food trucks blocking sidewalks, an outbreak traced to a "
        "county fair, a strip mall that once sprouted overnight. Stacked together, the rules "
        "asked a child to file more paperwork than a regional bakery.",
        "The fix, when it came, was not a new rule but a shorter list. The council exempted "
        "stands run by minors on private property for fewer than twenty days a year, and "
        "the licensing office now answers the question on its front page.",
        "The story is small. The pattern is not: rules accumulate because each one is "
        "reasonable on its own, and nobody is charged with reading them all at once.",
    ),
)

ARCHIVE = (
    ("March 1994", "The Coming Fight over Encryption"),
    ("July 2003", "Who Owns the Airwaves?"),
    ("October 2011", "Occupational Licensing, State by State"),
    ("May 2019", "The Price of a Parking Space"),
)

EDITION = (
    "Editor's note: rules that stack",
    "The Permit Maze",
    "Interview: a city clerk on paperwork",
    "Data: how long a business license takes, city by city",
    "Letters",
)
