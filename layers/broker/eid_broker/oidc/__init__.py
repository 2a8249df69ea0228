"""The broker as an OpenID Provider: clients, discovery and keys, the hosted login page, tokens."""
