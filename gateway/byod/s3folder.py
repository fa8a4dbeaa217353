"""A "folder" of an S3 bucket (a key prefix) with the few ``pathlib.Path`` methods the Zarr
reader uses, read through the gateway's S3 settings (boto3); GDAL names it ``/vsis3/``."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from gateway.core.storage import Storage

PREFIX = "s3://"


def is_s3(text: str) -> bool:
    """``s3://bucket/key`` (``pathlib`` makes it ``s3:/bucket/key``)."""
    return text.startswith(("s3://", "s3:/"))


@dataclass(frozen=True)
class S3Folder:
    """``key`` (no trailing ``/``) in ``bucket``."""

    storage: Storage
    bucket: str
    key: str

    @classmethod
    def from_url(cls, storage: Storage, text: str) -> S3Folder:
        rest = text.split(":/", 1)[1].lstrip("/")
        bucket, _, key = rest.partition("/")
        return cls(storage, bucket, posixpath.normpath(key).strip("/") if key else "")

    def __str__(self) -> str:
        return f"/vsis3/{self.bucket}/{self.key}".rstrip("/")

    def __truediv__(self, name: str) -> S3Folder:
        return S3Folder(self.storage, self.bucket, posixpath.normpath(f"{self.key}/{name}"))

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parents(self) -> list[S3Folder]:
        found, key = [], self.key
        while key not in ("", "."):
            key = posixpath.dirname(key)
            found.append(S3Folder(self.storage, self.bucket, key))
        return found

    def resolve(self) -> S3Folder:
        return self

    def is_relative_to(self, other: object) -> bool:
        if not isinstance(other, S3Folder) or other.bucket != self.bucket:
            return False
        return not other.key or self.key == other.key or self.key.startswith(other.key + "/")

    def _listing(self) -> tuple[list[str], list[str]]:
        return self.storage.s3_list(self.bucket, f"{self.key}/" if self.key else "")

    def is_dir(self) -> bool:
        folders, files = self._listing()
        return bool(folders or files)

    def is_file(self) -> bool:
        parent = S3Folder(self.storage, self.bucket, posixpath.dirname(self.key))
        return self.name in parent._listing()[1]

    def iterdir(self) -> list[S3Folder]:
        folders, files = self._listing()
        return [self / name for name in (*folders, *files)]

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.storage.read_bytes(self.url).decode(encoding)
