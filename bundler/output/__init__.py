"""What a build writes: a directory, a ``.tar.zst`` archive, or the single file (layers, payload, stub)."""
