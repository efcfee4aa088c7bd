"""The base CPython: probed or read from its files, unpacked from an archive, and the target it defines."""
