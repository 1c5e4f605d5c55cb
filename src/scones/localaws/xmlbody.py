"""Reading the small XML documents S3 requests carry (DeleteObjects, CompleteMultipartUpload, ...).

The standard library's parser does not fetch external entities, but it does expand internal
ones; a document type declaration is refused outright, so no entity is ever defined (what
defusedxml does, in two lines, without the dependency). Bodies are capped at 1 MB.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET  # noqa: S405 - guarded below: no DTD, bounded size

from scones.localaws.protocol import AwsError

MAX_XML_BYTES = 1 << 20


def parse(body: bytes) -> ET.Element:
    """The document's root with namespaces stripped from tags; MalformedXML when it is not one."""
    if len(body) > MAX_XML_BYTES or b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise AwsError("MalformedXML", "The XML you provided was not well-formed or did not validate")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        raise AwsError("MalformedXML", f"The XML you provided was not well-formed: {exc}") from exc
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def text(element: ET.Element, tag: str, default: str = "") -> str:
    found = element.find(tag)
    return found.text or "" if found is not None else default
