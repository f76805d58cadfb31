"""What the catalog raises when a language or voice is not supported."""

from __future__ import annotations


class UnsupportedValue(ValueError):
    """``value`` of query parameter ``parameter`` is unsupported; ``hint`` is the closest one."""

    def __init__(self, parameter: str, value: str, hint: str | None = None) -> None:
        self.parameter = parameter
        self.value = value
        self.hint = hint
        text = f"{parameter}: unsupported value {value!r}"
        if hint:
            text += f" (closest supported: {hint!r})"
        super().__init__(text)
