"""Helpers the tests share: real servers and their environments."""
