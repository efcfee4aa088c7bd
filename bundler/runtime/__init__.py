"""The runtime tree: staged from the base, wheels installed, launchers written, relocated, finalized, cached."""
