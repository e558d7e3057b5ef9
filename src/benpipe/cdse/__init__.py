"""Copernicus Data Space Ecosystem client: auth, catalogue, download, emulator."""
