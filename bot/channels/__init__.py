"""One module per chat platform. Each turns platform updates into handlers.chat.Incoming, calls
the dispatcher, sends the replies, and offers handlers.chat.Sender for messages the bot starts."""
