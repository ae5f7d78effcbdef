"""Configuration: the bottom layer every part may read.

``service`` (the :class:`Settings` and how they load), ``routing`` (channels, routes,
matchers), ``secrets`` (the one ``*_file`` reader), ``explain`` (errors with the YAML line
or the environment variable). Nothing here does I/O at import time.
"""
