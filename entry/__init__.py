"""Entry points, the top layer: the ``careflow`` command (one module per command group), the local stack and the
demos. They may import every layer below them; nothing imports them."""
