"""What a person sees on a page: its text without markup, attributes (hover titles), scripts or styles."""

from html.parser import HTMLParser


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag in ("script", "style", "template"):
            self._skip += 1
        self.parts.append(" ")

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1
        self.parts.append(" ")

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if not self._skip:
            self.parts.append(data)


def visible_text(html: bytes | str) -> str:
    """The page's text as read on screen, whitespace collapsed to single spaces."""
    parser = _Text()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    parser.close()
    return " ".join("".join(parser.parts).split())
