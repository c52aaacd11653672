"""CLI sub-commands (filled in by the part that owns them)."""


def register(sub) -> None:
    """Add this part's sub-commands to the lensdb parser."""
