"""Binary formats (ELF, PE, Mach-O): one interface to read, rewrite and resolve them."""
