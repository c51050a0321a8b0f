"""Photos of maintenance records: files under the data dir (``photos/``), never bytes in a SQL row.

Written to a temporary file and renamed into place, so a crash leaves no half photo under a
record's name; the record keeps only the file name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: The largest photo taken (issue 26: ≤ 5 MB).
MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: Content types taken, and the file suffix each is kept under.
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class PhotoError(OSError):
    """The photo could not be kept (disk full, no permission): a 503 at the API, nothing stored."""


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, record_id: int, data: bytes, content_type: str) -> str:
        """Keep ``data`` as the record's photo (replacing an earlier one); returns the file name."""
        name = f"record-{record_id}{PHOTO_TYPES[content_type]}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.root / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise PhotoError(f"the photo could not be stored: {exc.strerror or exc}") from exc
        return name

    def path(self, name: str) -> Path:
        return self.root / Path(name).name  # a stored name only: never a path out of the folder
