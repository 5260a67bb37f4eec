"""Data: built-in sets and generators, file readers, target encoding, standardisation
(host NumPy arrays; nothing here touches a device)."""
