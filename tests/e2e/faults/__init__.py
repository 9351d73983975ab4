"""Fault injection against real server processes: Redis restarts, SIGKILLed processes, and
channels_redis's group expiry. Each module starts a Redis server of its own (on a free port)
so it can stop and restart it without touching anybody else's."""

# channels_redis's group_expiry in settings_short_expiry (seconds); here so that the test can
# read it without importing a settings module that needs a server's environment.
SHORT_GROUP_EXPIRY = 2
