"""What the CLI prints of stored values cannot drive the operator's terminal."""

from __future__ import annotations

import pytest

from entitlements.cli.common import print_table


def test_control_characters_in_stored_values_are_printed_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table([{"id": "evt_\x1b[2J\x1b]0;owned\x07", "type": "invoice.paid"}], ["id", "type"])
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "evt_\\x1b[2J" in out
    assert "invoice.paid" in out
