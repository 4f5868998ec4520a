"""The failures of the WWKS2 wire: one `Wwks2Error` subclass per kind, each a one-line message."""

from __future__ import annotations


class Wwks2Error(Exception):
    """Something on the WWKS2 wire that cannot be used; the message is one line."""


class MalformedXml(Wwks2Error):
    """Bytes that are not one well-formed WWKS document."""


class UnknownMessage(Wwks2Error):
    """A lead element this codec does not know."""


class MissingPart(Wwks2Error):
    """A mandatory attribute or child element is absent."""


class BadValue(Wwks2Error):
    """An attribute whose value is not a valid boolean, number, date, timestamp or enum member."""


class Unwritable(Wwks2Error):
    """A value the wire cannot carry: a negative number, a character XML 1.0 has not even escaped
    (U+FFFE, U+FFFF)."""


class MessageTooLarge(Wwks2Error):
    """A message that grew past the framer's size limit before its end tag."""
