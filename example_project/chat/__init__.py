"""The chat app: rooms, messages, private messages and live presence over SignalR."""
