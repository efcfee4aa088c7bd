"""Mach-O: the parser that the writer and the signer share, the writer, ad-hoc code signatures."""
