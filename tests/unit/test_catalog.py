"""The plans catalog: every way a catalog file can be wrong fails at start, naming the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.app import create_app
from entitlements.catalog import FEATURES, CatalogError, load_catalog, parse_catalog
from entitlements.config import ConfigError
from tests.conftest import SECRET

GOOD = """
features = ["comment", "ad_free"]
[plans.basic]
name = "Basic"
features = ["ad_free"]
lookup_keys = ["basic_monthly"]
[plans.plus]
features = ["comment", "ad_free"]
lookup_keys = ["plus_monthly", "plus_annual"]
"""


def test_the_built_in_catalog_sells_plus_monthly_and_annual_with_every_feature() -> None:
    catalog = load_catalog(None)
    assert catalog.features == FEATURES
    assert catalog.lookup_keys == ("plus_monthly", "plus_annual")
    plus = catalog.plan_for_lookup_key("plus_annual")
    assert plus is not None
    assert (plus.id, plus.name, plus.features) == ("plus", "Plus", frozenset(FEATURES))


def test_a_valid_catalog_maps_each_lookup_key_to_its_plan() -> None:
    catalog = parse_catalog(GOOD)
    assert catalog.features == ("comment", "ad_free")
    assert [plan.id for plan in catalog.plans] == ["basic", "plus"]
    basic = catalog.plan_for_lookup_key("basic_monthly")
    assert basic is not None
    assert (basic.name, basic.features) == ("Basic", frozenset({"ad_free"}))
    plus = catalog.plan_for_lookup_key("plus_annual")
    assert plus is not None
    assert plus.name == "plus"  # no name: the plan's id
    assert catalog.plan_for_lookup_key("gold_monthly") is None
    assert catalog.plan_for_lookup_key(None) is None


def test_an_empty_catalog_knows_every_feature_and_sells_nothing() -> None:
    catalog = parse_catalog("")
    assert catalog.features == FEATURES
    assert catalog.plans == ()
    assert catalog.lookup_keys == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features = [", r"^catalog is not valid TOML: "),
        ('features = ["comment", "gold"]', r"^unknown feature\(s\) \['gold'\]; known: "),
        (
            'features = ["comment"]\n[plans.plus]\nfeatures = ["archive"]',
            r"^plan 'plus' names features outside \['comment'\]$",
        ),
        (
            '[plans.a]\nlookup_keys = ["k1"]\n[plans.b]\nlookup_keys = ["k2", "k1"]',
            r"^plan 'b' reuses a lookup key of another plan$",
        ),
        # Shapes TOML allows but a catalog cannot mean: each once crashed start-up with a
        # TypeError or AttributeError traceback instead of a message.
        ("features = 5", r"^features must be a list of strings$"),
        ('features = "comment"', r"^features must be a list of strings$"),
        ('features = [["comment"]]', r"^features must be a list of strings$"),
        ("plans = 5", r"^plans must be a table$"),
        ("plans = [1]", r"^plans must be a table$"),
        ('plans = {plus = "x"}', r"^plan 'plus' must be a table$"),
        ("[plans.plus]\nfeatures = 5", r"^plan 'plus' features must be a list of strings$"),
        (
            '[plans.plus]\nfeatures = "comment"',
            r"^plan 'plus' features must be a list of strings$",
        ),
        ('[plans.plus]\nfeatures = [["ad_free"]]', r"^plan 'plus' features must be a list"),
        # A bare string was read as twelve one-letter lookup keys: nothing sold, silently.
        (
            '[plans.plus]\nlookup_keys = "plus_monthly"',
            r"^plan 'plus' lookup_keys must be a list of strings$",
        ),
        ("[plans.plus]\nlookup_keys = [1, 2]", r"^plan 'plus' lookup_keys must be a list"),
        ("[plans.plus]\nlookup_keys = [{a = 1}]", r"^plan 'plus' lookup_keys must be a list"),
        ("[plans.plus]\nname = 5", r"^plan 'plus' name must be a string$"),
        # Misspelt keys would sell nothing (or every feature) without a word.
        (
            '[plan.plus]\nlookup_keys = ["plus_monthly"]',
            r"^the catalog has unknown key\(s\) \['plan'\]",
        ),
        ('feature = ["comment"]', r"^the catalog has unknown key\(s\) \['feature'\]"),
        (
            '[plans.plus]\nlookup_key = ["plus_monthly"]',
            r"^plan 'plus' has unknown key\(s\) \['lookup_key'\]; known: \['name', 'features', ",
        ),
    ],
)
def test_a_malformed_or_inconsistent_catalog_is_refused_naming_the_fault(
    text: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(text)


def test_catalog_files_that_cannot_be_read_are_refused_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(CatalogError, match=r"^cannot read catalog .*missing\.toml: No such file"):
        load_catalog(str(missing))
    with pytest.raises(CatalogError, match=r"^cannot read catalog .*: Is a directory$"):
        load_catalog(str(tmp_path))
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('[plans.plus]\nname = "Plus \u00e9dition"\n'.encode("latin-1"))
    with pytest.raises(CatalogError, match=r"^catalog .*latin1\.toml is not UTF-8 text$"):
        load_catalog(str(latin1))


def test_a_catalog_file_is_read_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_catalog(str(path)) == parse_catalog(GOOD)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features = 5", "features must be a list of strings"),
        ('[plans.plus]\nlookup_keys = "plus_monthly"', "lookup_keys must be a list of strings"),
        ("plans = [", "catalog is not valid TOML"),
    ],
)
def test_a_bad_catalog_stops_start_up_with_one_line_naming_the_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    settings = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": SECRET,
        "CATALOG": str(path),
    }
    with pytest.raises(ConfigError, match=r"^ENTITLEMENTS_CATALOG: ") as excinfo:
        create_app(settings)
    assert message in str(excinfo.value)
