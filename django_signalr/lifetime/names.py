"""Channel-layer names for hubs, groups, users and connections (DESIGN decision 3).

Channels accepts only ``[a-zA-Z0-9-_.]`` and fewer than 100 characters; hub, group and user
names are arbitrary Unicode. Every layer name is therefore built here: a fixed prefix, a short
readable slug of the user string (for people reading Redis keys) and a hash of the whole string
(for uniqueness). No other module builds a layer name.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^a-zA-Z0-9\-_]+")
_SLUG_LENGTH = 16
_HASH_LENGTH = 20  # hex characters: 80 bits, collisions are not a practical concern


def _slug(name: str) -> str:
    return _UNSAFE.sub("_", name)[:_SLUG_LENGTH].strip("_") or "_"


def _digest(name: str, hex_length: int) -> str:
    return hashlib.blake2b(name.encode("utf-8"), digest_size=hex_length // 2).hexdigest()


def _slug_and_hash(name: str) -> str:
    return f"{_slug(name)}.{_digest(name, _HASH_LENGTH)}"


def hub_key(hub_path: str) -> str:
    """A hub's short, stable identity from its dotted class path (``chat.hubs.ChatHub``)."""
    return f"{_slug(hub_path.rsplit('.', 1)[-1])}-{_digest(hub_path, 8)}"


def all_group(hub: str) -> str:
    """The layer group of every process that has connections of ``hub``."""
    return f"signalr.{hub}.all"


def group(hub: str, name: str) -> str:
    """The layer group of the processes that have members of the hub group ``name``."""
    return f"signalr.{hub}.g.{_slug_and_hash(name)}"


def user(hub: str, user_id: str) -> str:
    """The layer group of the processes that have connections of ``user_id``."""
    return f"signalr.{hub}.u.{_slug_and_hash(user_id)}"


def connection(hub: str, connection_id: str) -> str:
    """The layer group holding the process that owns ``connection_id`` (ids are URL-safe)."""
    return f"signalr.{hub}.c.{_UNSAFE.sub('_', connection_id)}"


def node(node_id: str) -> str:
    """One process's node channel: a plain channel (not a ``!`` one), so it has a Redis key of
    its own, and any process can address it from the node id in a connection token."""
    return f"signalr.node.{_UNSAFE.sub('_', node_id)}"
