"""Exceptions a user can act on. The CLI turns every `KdSurveyError` into one line and exit code 2."""

from __future__ import annotations


class KdSurveyError(Exception):
    """Base class for every error kdsurvey raises on bad input or missing data."""


class KdSurveyWarning(UserWarning):
    """Input that is allowed but probably a mistake; the CLI prints each as one line on stderr."""


class CatalogueError(KdSurveyError, ValueError):
    """A data file is malformed. `problems` lists every (file, line, column, message) found."""

    def __init__(self, problems: list[tuple[str, int | None, str | None, str]]):
        self.problems = list(problems)
        first = _describe(*self.problems[0])
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""))

    def details(self) -> str:
        """All problems, one per line."""
        return "\n".join(_describe(*p) for p in self.problems)


def _describe(path: str, line: int | None, column: str | None, message: str) -> str:
    where = path
    if line is not None:
        where += f", line {line}"
    if column:
        where += f", column '{column}'"
    return f"{where}: {message}"


class UnknownReferenceError(KdSurveyError, KeyError):
    """A BibTeX key that data/references.bib does not hold."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DataNotFoundError(KdSurveyError, FileNotFoundError):
    """The data folder or one of its files is missing."""


class OutputError(KdSurveyError):
    """An output folder cannot be written safely."""


class UsageError(KdSurveyError, ValueError):
    """An unknown table, format or option value."""


class UnknownNameError(KdSurveyError, LookupError):
    """A method, model or data set name that no registry holds."""


class TorchMissingError(KdSurveyError, ImportError):
    """Reproductions need the `torch` extra: pip install 'kdsurvey[torch]'."""
