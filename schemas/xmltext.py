"""Text that XML 1.0 can carry.

XML 1.0 forbids most control characters even as character references: one in a
description would make a whole answer, or a whole back-end body, unparseable. Both the
API's XML rendering and the XML adapter drop them with this one pattern.
"""

from __future__ import annotations

import re

XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """The text without the characters XML 1.0 cannot carry."""
    return XML_ILLEGAL.sub("", text)
