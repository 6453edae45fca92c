"""The one exception a build raises: it carries every problem found, so the user fixes them in one pass."""


class FormBuildError(Exception):
    """Forms could not be built; `errors` lists each problem as a message naming the form and question."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the forms:\n" + "\n".join(self.errors))
