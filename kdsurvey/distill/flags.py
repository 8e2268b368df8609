"""Repeatable KEY=VALUE command-line flags (--option, --speed, --slurm-option), split the same way everywhere."""

from __future__ import annotations

from kdsurvey.errors import UsageError


def key_values(pairs: list[str] | None, flag: str, hint: str = "") -> dict[str, str]:
    """{KEY: VALUE text} of `flag`'s pairs, later ones winning; a pair without '=' or KEY is an error."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} takes KEY=VALUE{hint}, got {pair!r}")
        out[key] = value
    return out
