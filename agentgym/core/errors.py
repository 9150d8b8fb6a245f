"""Errors a user can cause (bad ids, paths, options): the CLI prints them as one line, exit code 2."""


class AgentGymError(Exception):
    """A user-facing error whose message is complete enough to act on."""


class UnknownEnvError(AgentGymError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def moved_names(module: str, moved: dict[str, str]):
    """A module-level `__getattr__` for names the module no longer has: the error says what replaced each
    (shown in the traceback of `from module import name` too)."""

    def __getattr__(name: str):
        if name in moved:
            raise AttributeError(f"{module}.{name} is gone: use {moved[name]}")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
