"""The locked dependencies: lock files read, wheels fetched and verified, local projects built."""
