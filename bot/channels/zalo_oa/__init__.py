"""The Zalo Official Account (OA): its HTTP client for Zalo's three hosts (client.py), the token
pair kept in the database (tokens.py), the signed webhook (webhook.py) and the OA chat channel
(channel.py); wiring.py builds them from the config."""
