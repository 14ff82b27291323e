"""Reading a written report back: its page, its images (each checked to decode, embedded and beside it)."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

from matplotlib.image import imread


class Page(HTMLParser):
    """The images and the JSON scripts of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.scripts: dict[str, str] = {}
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "script":
            self._script = dict(attrs).get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts[self._script] = self.scripts.get(self._script, "") + data


def read_report(path: Path) -> tuple[Page, dict]:
    """The report's page and figure data, once every image it shows is checked to decode, beside it too."""
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.images, "the report has no figure"
    for image in page.images:
        header, _, payload = image["src"].partition(",")
        assert header == "data:image/png;base64"
        embedded = imread(io.BytesIO(base64.b64decode(payload)), format="png")
        beside = path.parent / image["data-file"]
        assert beside.is_file()
        assert imread(beside).shape == embedded.shape and embedded.shape[0] > 100
    data = json.loads(page.scripts["figure-data"])
    assert data == json.loads((path.parent / f"{path.stem}_files" / "figures.json").read_text())
    return page, data
