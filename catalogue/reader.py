"""Reading a catalogue: the main file, its includes, merged into one located document.

A catalogue is one YAML file, or a main file that lists `include:` globs (relative to itself) of files holding
more list sections — forms are usually one file each, so a change to a form is a small diff in git. An include
names files inside the main file's folder (or below it) only: no absolute path, no `..`, no link leading out.
"""

from pathlib import Path, PurePosixPath, PureWindowsPath

from catalogue.yamlsource import Located, Path_, Problem, read_yaml, relocate

LIST_SECTIONS = ("results", "dimensions", "choice_lists", "indicators", "forms")
INCLUDE_KEY = "include"


def _display(path: Path, base: Path) -> str:
    """Paths in messages are relative to where the user is, when they can be."""
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def read_document(path: Path) -> Located:
    """Read a catalogue file and its includes into one document, with every value's file and line."""
    cwd = Path.cwd().resolve()
    main = read_yaml(path, _display(path, cwd))
    if main.problems or main.data is None:
        return main
    if not isinstance(main.data, dict):
        main.problems.append(Problem(*main.where(()), "a catalogue is a mapping of sections (sera_catalogue, ...)"))
        return main
    includes = main.data.pop(INCLUDE_KEY, None)
    if includes is None:
        return main
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        main.problems.append(main.problem((INCLUDE_KEY,), "include must be a list of file patterns"))
        return main
    folder = path.parent.resolve()
    for index, pattern in enumerate(includes):
        outside = _outside(pattern)
        try:
            matches = [] if outside else sorted(path.parent.glob(pattern))
        except (ValueError, NotImplementedError) as error:
            main.problems.append(main.problem((INCLUDE_KEY, index), f"include '{pattern}' is not a pattern: {error}"))
            continue
        if not outside and not matches:
            main.problems.append(main.problem((INCLUDE_KEY, index), f"include '{pattern}' matches no file"))
        for included in matches:
            if not included.resolve().is_relative_to(folder):
                outside = f"'{included.name}' leads outside it (a link?)"
                break
        if outside:
            message = f"include '{pattern}' must name files inside the catalogue's folder: {outside}"
            main.problems.append(main.problem((INCLUDE_KEY, index), message))
            continue
        for included in matches:
            _merge(main, read_yaml(included, _display(included, cwd)))
    return main


def _outside(pattern: str) -> str | None:
    """Why a pattern can reach beyond the catalogue's folder, or None: the catalogue names its own files only."""
    if not pattern.strip():
        return "it is empty"
    if PurePosixPath(pattern).is_absolute() or PureWindowsPath(pattern).is_absolute() or pattern.startswith("~"):
        return "it is an absolute path"
    if ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
        return "it goes up with '..'"
    return None


def _merge(main: Located, part: Located) -> None:
    main.problems.extend(part.problems)
    if part.data is None:
        return
    if not isinstance(part.data, dict):
        main.problems.append(Problem(*part.where(()), "an included file is a mapping of list sections"))
        return
    moves: list[tuple[Path_, Path_]] = []
    for key, items in part.data.items():
        if key not in LIST_SECTIONS:
            allowed = ", ".join(LIST_SECTIONS)
            main.problems.append(Problem(*part.where((key,)), f"'{key}' cannot be included; allowed: {allowed}"))
            continue
        if not isinstance(items, list):
            main.problems.append(Problem(*part.where((key,)), f"'{key}' must be a list"))
            continue
        target = main.data.setdefault(key, [])
        if not isinstance(target, list):
            continue
        offset = len(target)
        target.extend(items)
        moves.extend(((key, index), (key, offset + index)) for index in range(len(items)))
        if (key,) not in main.lines:
            main.lines[(key,)] = part.where((key,))
    main.lines.update(relocate(part.lines, moves))
