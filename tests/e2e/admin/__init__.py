"""The live connection registry and its Django admin pages, against real servers and browsers."""
