"""Form versions: `YYYYMMDD-hhhhhhhhhh`, a readable date and a hash of everything the form contains.

The hash (first 10 hex digits of SHA-256) covers the form's sheet rows, version cell excepted, and the bytes of
each media file it uses. So the same catalogue always gives the same version, and any change to a form's rows
or to its media gives a new one. The date is the form's own revision date, or the catalogue's when the form has
none: it makes versions readable and, across editions, sortable. Two editions on the same day sort by hash.

A new catalogue edition moves the date of every form without its own revision even when its content is the same.
So a build can be given the previous build's manifest: a form whose content hash is unchanged keeps its previous
version string, and the phones are not asked to download a form that did not change.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping

from catalogue.model import Catalogue, FormSpec
from xlsforms.columns import Sheets

HASH_LENGTH = 10


def version_date(catalogue: Catalogue, form: FormSpec) -> dt.date:
    """The date part of a form's version: its own revision, else the catalogue's."""
    return form.revision.date if form.revision is not None else catalogue.revision.date


def content_hash(sheets: Sheets, media: Mapping[str, bytes]) -> str:
    """SHA-256 of the rows (without the version cell) and the media bytes, in a canonical JSON form."""
    settings = [{key: value for key, value in row.items() if key != "version"} for row in sheets.get("settings", [])]
    content = {
        "sheets": {**sheets, "settings": settings},
        "media": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(media.items())},
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def make_version(date: dt.date, digest: str) -> str:
    """The version string from its date and content hash."""
    return f"{date:%Y%m%d}-{digest[:HASH_LENGTH]}"
