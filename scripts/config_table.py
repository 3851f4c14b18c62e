"""Print the README's configuration table from entitlements.config.SETTINGS."""

from entitlements.config import SETTINGS


def table() -> str:
    """Return the Markdown table of every ENTITLEMENTS_* setting."""
    lines = [
        "| variable | default | required in production | meaning |",
        "|---|---|---|---|",
    ]
    for name, setting in SETTINGS.items():
        default = f"`{setting.default}`" if setting.default is not None else "—"
        required = "yes" if setting.required_in_production else "no"
        lines.append(f"| `ENTITLEMENTS_{name}` | {default} | {required} | {setting.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())  # noqa: T201
